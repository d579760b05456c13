package main

import (
	"fmt"
	"strings"

	"github.com/moq-cluster/moq-relay/cmd/internal/buildinfo"
	"github.com/moq-cluster/moq-relay/moqt/ietf/message"
)

// clientVersion is the version in the TAP header and the
// MOQT_IMPLEMENTATION setup option.
func clientVersion() string {
	v, _, _ := strings.Cut(buildinfo.String(), ",")
	return v
}

// isRequestOK reports a success reply to PUBLISH_NAMESPACE (REQUEST_OK;
// PUBLISH_NAMESPACE_OK in draft-14, the same type number).
func isRequestOK(m any) bool {
	_, ok := m.(*message.RequestOK)
	return ok
}

// isRequestError reports a refusal: REQUEST_ERROR, or draft-14's
// SUBSCRIBE_ERROR (the same type number) and PUBLISH_NAMESPACE_ERROR.
func isRequestError(m any) bool {
	switch m.(type) {
	case *message.RequestError, *message.PublishNamespaceError:
		return true
	}
	return false
}

func isSubscribeOK(m any) bool {
	_, ok := m.(*message.SubscribeOK)
	return ok
}

// replyRequestID is the request a draft-14..16 reply answers.
func replyRequestID(m message.Message) (uint64, bool) {
	switch m := m.(type) {
	case *message.RequestOK:
		return m.RequestID, true
	case *message.RequestError:
		return m.RequestID, true
	case *message.SubscribeOK:
		return m.RequestID, true
	case *message.PublishNamespaceError:
		return m.RequestID, true
	}
	return 0, false
}

// describe names a message as draft v does, with the fields a reader of a
// failed case wants (error codes and reasons).
func describe(m any, v message.Version) string {
	legacy := v == message.Draft14
	switch m := m.(type) {
	case nil:
		return "nothing"
	case *message.Setup:
		return "SETUP"
	case *message.ClientSetup:
		return "CLIENT_SETUP"
	case *message.ServerSetup:
		return "SERVER_SETUP"
	case *message.RequestOK:
		if legacy {
			return "PUBLISH_NAMESPACE_OK"
		}
		return "REQUEST_OK"
	case *message.RequestError:
		name := "REQUEST_ERROR"
		if legacy {
			name = "SUBSCRIBE_ERROR"
		}
		return fmt.Sprintf("%s code 0x%x %q", name, m.Code, m.Reason)
	case *message.PublishNamespaceError:
		return fmt.Sprintf("PUBLISH_NAMESPACE_ERROR code 0x%x %q", m.Code, m.Reason)
	case *message.SubscribeOK:
		return fmt.Sprintf("SUBSCRIBE_OK track alias %d", m.TrackAlias)
	case *message.Subscribe:
		return fmt.Sprintf("SUBSCRIBE %s/%s", strings.Join(m.Namespace, "/"), m.TrackName)
	case *message.PublishNamespace:
		return "PUBLISH_NAMESPACE " + strings.Join(m.Namespace, "/")
	case *message.PublishNamespaceDone:
		return "PUBLISH_NAMESPACE_DONE"
	case *message.PublishDone:
		return fmt.Sprintf("PUBLISH_DONE code 0x%x %q", m.Code, m.Reason)
	case *message.MaxRequestID:
		return fmt.Sprintf("MAX_REQUEST_ID %d", m.RequestID)
	case *message.GoAway:
		return fmt.Sprintf("GOAWAY %q", m.NewSessionURI)
	}
	return strings.ToUpper(strings.TrimPrefix(fmt.Sprintf("%T", m), "*message."))
}

// messageName is the message's name alone (the YAML "received" field).
func messageName(m any, v message.Version) string {
	name, _, _ := strings.Cut(describe(m, v), " ")
	return name
}
