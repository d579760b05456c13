package ietf

import (
	"fmt"
	"strings"
)

// This file is the one place that maps IETF moq-transport names and objects
// onto the moq model (moqt.Origin, Broadcast, Track, Group). Every mapping
// choice is written down here.
//
// Namespaces and paths. A Track Namespace tuple is a broadcast path relative
// to the session scope: its fields joined by "/". A field that contains "/"
// or "\" has them escaped as "\/" and "\\", the representation @moq/net 0.3.4
// uses (ietf/namespace.js), so a browser and this relay name the same
// broadcast the same way. The empty tuple is the scope itself (the empty
// path). Fields must be non-empty: moq paths have no empty segments
// (moqt.CleanPath drops them), so a tuple with an empty field names no
// broadcast here; requests naming one are refused (DOES_NOT_EXIST, or
// UNINTERESTED for a PUBLISH_NAMESPACE). Escaped paths are never passed
// through moqt.CleanPath, which could merge "a\/" + "b" ("a\//b") into one
// field. moqt's prefix matching splits on every "/", escaped or not, so a
// field containing "/" matches moqt prefixes of its own pieces; no tuple
// prefix can produce such a piece, so IETF subscribers are not affected.
//
// Track names. A Track Name is the moq track name, byte for byte.
//
// Groups and objects. One moq group is one IETF group carried in a single
// subgroup (id 0) on its own unidirectional stream; its frames are objects
// 0..n-1, in order, and the stream's FIN (with the end-of-group header form)
// ends the group. On ingest, a subgroup stream becomes a group when it
// starts at object 0 (and, from draft-18, says it starts at the subgroup's
// first object): a group joined in the middle would pass for a whole one,
// since moq frames have no ids, so it is dropped, as @moq/net drops it.
// Its objects are then frames in stream order: gaps in object ids and the
// subgroup id are not kept. Object properties (extension headers, e.g. a LOC
// capture timestamp) are kept with their frame (moqt.Property), cached, and
// written again to moq-transport subscribers of any draft and to FETCH
// answers, as the drafts require of relays; a group's stream carries
// properties when its first frame has any. moq-lite has none, so its
// subscribers get the frames without them. Objects with a
// status instead of a payload (END_OF_GROUP, END_OF_TRACK, DOES_NOT_EXIST)
// carry no frame, and a zero-length NORMAL object is an empty frame. A
// second subgroup stream of a group already received is refused
// (STOP_SENDING): the moq model has one stream per group.
//
// Priorities and order. Subscriber priority and group order are accepted and
// not acted on beyond QUIC stream urgency: groups are always delivered newest
// first under load (moq-lite's behaviour), which is the draft's descending
// order for stale groups and ascending for the live edge.

// maxNamespaceFields bounds a namespace tuple (the drafts' limit).
const maxNamespaceFields = 32

// namespacePath maps a namespace tuple to a path relative to the session
// scope. ok is false when the tuple has an empty field.
func namespacePath(ns []string) (string, bool) {
	var b strings.Builder
	for i, f := range ns {
		if f == "" {
			return "", false
		}
		if i > 0 {
			b.WriteByte('/')
		}
		for j := 0; j < len(f); j++ {
			if c := f[j]; c == '/' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(f[j])
		}
	}
	return b.String(), true
}

// pathNamespace maps a path relative to the session scope to a namespace
// tuple, undoing namespacePath's escapes. Empty segments (a path that is not
// clean) are dropped, as moqt.CleanPath would.
func pathNamespace(path string) ([]string, error) {
	if path == "" {
		return []string{}, nil
	}
	var out []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case c == '/':
			flush()
		case c == '\\' && i+1 < len(path) && (path[i+1] == '/' || path[i+1] == '\\'):
			i++
			cur.WriteByte(path[i])
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	if len(out) > maxNamespaceFields {
		return nil, fmt.Errorf("path %q has %d fields, over the %d a namespace may have", path, len(out), maxNamespaceFields)
	}
	return out, nil
}
