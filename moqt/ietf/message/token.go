package message

import (
	"fmt"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// Token alias types (AUTHORIZATION_TOKEN's Alias Type).
const (
	TokenDelete   uint64 = 0x0 // retire Alias
	TokenRegister uint64 = 0x1 // register Alias for Type/Value and use it
	TokenUseAlias uint64 = 0x2 // use the value registered for Alias
	TokenUseValue uint64 = 0x3 // use Type/Value without registering
)

// Token is an AUTHORIZATION_TOKEN parameter or setup option value.
type Token struct {
	AliasType uint64
	Alias     uint64 // DELETE, REGISTER, USE_ALIAS
	Type      uint64 // REGISTER, USE_VALUE
	Value     []byte // REGISTER, USE_VALUE; aliases the parsed bytes
}

// HasValue reports whether the token carries a Type and Value (REGISTER,
// USE_VALUE).
func (t Token) HasValue() bool { return t.AliasType == TokenRegister || t.AliasType == TokenUseValue }

// hasAlias reports whether the token carries an Alias.
func (t Token) hasAlias() bool { return t.AliasType != TokenUseValue }

// ParseToken decodes an AUTHORIZATION_TOKEN value (from Parameters.
// AuthorizationToken) encoded for v. An unknown alias type is an error the
// drafts close the session for (MALFORMED_AUTH_TOKEN); the *wire.Error
// carries wire.CodeUnauthorized.
func ParseToken(b []byte, v Version) (Token, error) {
	d := NewDecoder(b, v)
	t := Token{AliasType: d.Int()}
	if d.err == nil && t.AliasType > TokenUseValue {
		return Token{}, wire.Errorf(wire.CodeUnauthorized, "token alias type %d", t.AliasType)
	}
	if t.hasAlias() {
		t.Alias = d.Int()
	}
	if t.HasValue() {
		t.Type = d.Int()
		t.Value = d.Rest()
	}
	if err := d.Finish(); err != nil {
		return Token{}, wire.Errorf(wire.CodeUnauthorized, "token: %v", err)
	}
	return t, nil
}

// Append appends t's encoding for v (the parameter value, without the
// parameter's length).
func (t Token) Append(b []byte, v Version) ([]byte, error) {
	if t.AliasType > TokenUseValue {
		return b, fmt.Errorf("%w: token alias type %d", wire.ErrInvalid, t.AliasType)
	}
	e := encoder{b: b, v: v}
	e.int(t.AliasType)
	if t.hasAlias() {
		e.int(t.Alias)
	}
	if t.HasValue() {
		e.int(t.Type)
		e.b = append(e.b, t.Value...)
	}
	return e.b, e.err
}

// SetAuthorizationToken sets AUTHORIZATION_TOKEN to t encoded for v.
func (p *Parameters) SetAuthorizationToken(t Token, v Version) error {
	b, err := t.Append(nil, v)
	if err != nil {
		return err
	}
	p.SetBytes(ParamAuthorizationToken, b)
	return nil
}
