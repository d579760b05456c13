package message

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantViolation fails unless err is a *wire.Error carrying code.
func wantCode(t testing.TB, err error, code wire.Code) {
	t.Helper()
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != code {
		t.Fatalf("err = %v (%T), want a *wire.Error with code 0x%x", err, err, uint32(code))
	}
}

func reader(b []byte) *wire.Reader { return wire.NewReader(bytes.NewReader(b)) }

// params builds a message parameter list valid in v.
func sampleParams(v Version) Parameters {
	var p Parameters
	p.SetInt(ParamDeliveryTimeout, 1500)
	p.SetSubscriberPriority(7)
	p.SetForward(true)
	p.SetGroupOrder(2)
	_ = p.SetFilter(Filter{Kind: FilterAbsolute, Start: Location{3, 4}, HasEnd: true, EndGroup: 9}, v)
	_ = p.SetAuthorizationToken(Token{AliasType: TokenUseValue, Type: 1, Value: []byte("jwt")}, v)
	p.SetLargest(Location{12, 34}, v)
	return p
}

func sampleProps(v Version) Parameters {
	var p Parameters
	if v < Draft16 {
		return p
	}
	p.SetInt(0x08, 1000)
	p.SetBytes(0x0b, []byte{1, 2})
	p.SetInt(0x22, 2)
	return p
}

// samples returns one populated instance of every control message v defines,
// with exactly the fields v puts on the wire set.
func samples(v Version) []Message {
	legacy := v <= Draft16
	ns := []string{"live", "room", "alice"}
	id := func(x uint64) uint64 { // reply request IDs are on the wire through 16
		if legacy {
			return x
		}
		return 0
	}
	rrid := func() uint64 {
		if v == Draft17 {
			return 2
		}
		return 0
	}
	var out []Message
	add := func(m ...Message) { out = append(out, m...) }

	var opts Parameters
	opts.SetBytes(OptionPath, []byte("/moq"))
	opts.SetBytes(OptionAuthority, []byte("relay.example"))
	opts.SetBytes(OptionImplementation, []byte("moq-relay"))
	if legacy {
		opts.SetInt(OptionMaxRequestID, 100)
		var vs []Version
		if v == Draft14 {
			vs = []Version{Draft14, Draft15}
		}
		sv := Version(0)
		if v == Draft14 {
			sv = Draft14
		}
		add(&ClientSetup{Versions: vs, Options: opts}, &ServerSetup{Version: sv, Options: opts},
			&MaxRequestID{RequestID: 40}, &RequestsBlocked{MaxRequestID: 40},
			&Unsubscribe{RequestID: 4}, &FetchCancel{RequestID: 6})
	} else {
		add(&Setup{Options: opts})
	}
	g := &GoAway{NewSessionURI: "https://relay2.example/moq"}
	if v >= Draft17 {
		g.Timeout = 5000
	}
	if v == Draft18 {
		g.HasRequestID, g.RequestID = true, 12
	}
	add(g)

	p := sampleParams(v)
	sub := Subscribe{RequestID: 2, RequiredRequestIDDelta: rrid(), Namespace: ns, TrackName: "video", Params: p}
	if v == Draft14 {
		// Draft-14 carries these as fields; decoding puts them first.
		var q Parameters
		q.SetSubscriberPriority(7)
		q.SetGroupOrder(2)
		q.SetForward(true)
		_ = q.SetFilter(Filter{Kind: FilterAbsolute, Start: Location{3, 4}, HasEnd: true, EndGroup: 9}, v)
		q.SetInt(ParamDeliveryTimeout, 1500)
		_ = q.SetAuthorizationToken(Token{AliasType: TokenUseValue, Type: 1, Value: []byte("jwt")}, v)
		q.SetLargest(Location{12, 34}, v)
		sub.Params = q
	}
	add(&sub)
	ts := &TrackStatus{Subscribe: sub}
	add(ts)

	var okp Parameters
	if v == Draft14 {
		okp.SetInt(ParamExpires, 0)
		okp.SetGroupOrder(2)
		okp.SetLargest(Location{12, 34}, v)
		okp.SetInt(ParamDeliveryTimeout, 300)
	} else {
		okp.SetLargest(Location{12, 34}, v)
		okp.SetInt(ParamExpires, 60000)
	}
	sok := SubscribeOK{RequestID: id(2), TrackAlias: 9, Params: okp, Properties: sampleProps(v)}
	add(&sok)
	if v == Draft14 {
		add(&TrackStatusOK{SubscribeOK: sok})
		add(&TrackStatusOK{Legacy: &LegacyTrackStatus{Namespace: ns, TrackName: "video", StatusCode: 1, Last: Location{3, 4}}})
		add(&TrackStatusError{ErrorReply{RequestID: 8, Code: 4, Reason: "gone"}},
			&PublishError{ErrorReply{RequestID: 8, Code: 1, Reason: "no"}},
			&FetchError{ErrorReply{RequestID: 8, Code: 5, Reason: "range"}},
			&PublishNamespaceError{ErrorReply{RequestID: 8, Code: 2, Reason: "slow"}},
			&SubscribeNamespaceOK{RequestID: 10},
			&SubscribeNamespaceError{ErrorReply{RequestID: 10, Code: 4, Reason: "meh"}},
			&RequestOK{RequestID: 6})
	} else {
		var rp Parameters
		rp.SetInt(ParamExpires, 10)
		add(&RequestOK{RequestID: id(6), Params: rp, Properties: sampleProps(v)})
	}
	re := &RequestError{RequestID: id(6), Code: ErrDoesNotExist, Reason: "no such track"}
	if v >= Draft16 {
		re.RetryInterval = 250
	}
	if v >= Draft18 {
		re.Redirect = []byte{0x01, 0x02}
	}
	add(re)

	ru := &RequestUpdate{RequestID: 12, RequiredRequestIDDelta: rrid(), ExistingRequestID: id(2)}
	if v == Draft14 {
		_ = ru.Params.SetFilter(Filter{Kind: FilterAbsolute, Start: Location{5, 0}, HasEnd: true, EndGroup: 8}, v)
		ru.Params.SetSubscriberPriority(9)
		ru.Params.SetForward(false)
		ru.Params.SetInt(ParamDeliveryTimeout, 10)
	} else {
		ru.Params.SetForward(false)
		ru.Params.SetSubscriberPriority(9)
	}
	add(ru)
	add(&PublishDone{RequestID: id(2), Code: DoneTrackEnded, StreamCount: 3, Reason: "bye"})

	pub := &Publish{RequestID: 14, RequiredRequestIDDelta: rrid(), Namespace: ns, TrackName: "audio", TrackAlias: 21}
	if v == Draft14 {
		pub.Params.SetGroupOrder(1)
		pub.Params.SetLargest(Location{1, 2}, v)
		pub.Params.SetForward(true)
		pub.Params.SetInt(ParamDeliveryTimeout, 10)
	} else {
		pub.Params.SetLargest(Location{1, 2}, v)
		pub.Properties = sampleProps(v)
	}
	add(pub)
	if v <= Draft18 {
		pok := &PublishOK{RequestID: id(14)}
		if v == Draft14 {
			pok.Params.SetForward(true)
			pok.Params.SetSubscriberPriority(3)
			pok.Params.SetGroupOrder(0)
			_ = pok.Params.SetFilter(Filter{Kind: FilterRelative}, v)
		} else {
			pok.Params.SetForward(true)
		}
		if v == Draft18 {
			pok.Properties = sampleProps(v)
		}
		add(pok)
	}

	pn := &PublishNamespace{RequestID: 16, RequiredRequestIDDelta: rrid(), Namespace: ns[:2]}
	pn.Params.SetBytes(ParamAuthorizationToken, []byte{byte(TokenUseAlias), 5})
	add(pn)
	if legacy {
		if v == Draft16 {
			add(&PublishNamespaceDone{RequestID: 16}, &PublishNamespaceCancel{RequestID: 16, Code: 3, Reason: "x"})
		} else {
			add(&PublishNamespaceDone{Namespace: ns[:2]}, &PublishNamespaceCancel{Namespace: ns[:2], Code: 3, Reason: "x"})
		}
	}
	sn := &SubscribeNamespace{RequestID: 18, RequiredRequestIDDelta: rrid(), Prefix: ns[:1]}
	if v == Draft16 || v == Draft17 {
		sn.SubscribeOptions = 1
	}
	add(sn)
	if v <= Draft15 {
		if v == Draft14 {
			add(&UnsubscribeNamespace{Prefix: ns[:1]})
		} else {
			add(&UnsubscribeNamespace{RequestID: 18})
		}
	}
	if v >= Draft16 {
		add(&Namespace{Suffix: ns[1:]}, &NamespaceDone{Suffix: ns[1:]})
	}
	if v >= Draft17 {
		add(&PublishBlocked{Suffix: ns[1:], TrackName: "video"})
	}
	if v >= Draft18 {
		st := &SubscribeTracks{RequestID: 20, Prefix: ns[:1]}
		if v >= Draft19 {
			e := encoder{v: v}
			e.tuple(ns[1:])
			st.Params.SetBytes(paramTrackNamespacePrefix, e.b)
			// Range filters may repeat.
			st.Params.add(Param{Key: 0x25, Bytes: []byte{0, 1, 2}})
			st.Params.add(Param{Key: 0x25, Bytes: []byte{1, 5}})
		}
		add(st)
	}
	if v >= Draft20 {
		var q Parameters
		q.SetInt(ParamExpires, 1)
		add(&PublishStateNotify{Params: q})
	}

	f := &Fetch{RequestID: 22, RequiredRequestIDDelta: rrid(), FetchType: FetchStandalone, Namespace: ns, TrackName: "video",
		Start: Location{1, 0}, End: Location{5, 3}}
	jr := &Fetch{RequestID: 24, RequiredRequestIDDelta: rrid(), FetchType: FetchRelativeJoining, JoiningRequestID: 2, JoiningStart: 1}
	ja := &Fetch{RequestID: 26, RequiredRequestIDDelta: rrid(), FetchType: FetchAbsoluteJoining, JoiningRequestID: 2, JoiningStart: 40}
	for _, x := range []*Fetch{f, jr, ja} {
		x.Params.SetSubscriberPriority(5)
		x.Params.SetGroupOrder(1)
		if v != Draft14 {
			x.Params.SetInt(ParamDeliveryTimeout, 10)
		}
	}
	add(f, jr, ja)
	fok := &FetchOK{RequestID: id(22), EndOfTrack: true, End: Location{5, 3}, Properties: sampleProps(v)}
	if v == Draft14 {
		fok.Params.SetGroupOrder(1)
	}
	fok.Params.SetInt(ParamDeliveryTimeout, 10)
	add(fok)
	return out
}
