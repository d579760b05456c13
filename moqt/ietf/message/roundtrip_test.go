package message

import (
	"reflect"
	"testing"
)

// TestRoundTripControl encodes every control message of every draft, framed,
// and checks that ParseControl and ReadControl give it back unchanged.
func TestRoundTripControl(t *testing.T) {
	total := 0
	for _, v := range Versions {
		for _, m := range samples(v) {
			b, err := AppendControl(nil, m, v)
			if err != nil {
				t.Fatalf("%s %T: %v", v, m, err)
			}
			got, rest, err := ParseControl(b, v)
			if err != nil || len(rest) != 0 {
				t.Fatalf("%s %T: ParseControl(%x) = %v, rest %d", v, m, b, err, len(rest))
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("%s %T:\n got %+v\nwant %+v\nwire %x", v, m, got, m, b)
			}
			read, err := ReadControl(reader(b), v)
			if err != nil || !reflect.DeepEqual(read, m) {
				t.Fatalf("%s %T: ReadControl = %+v, %v", v, m, read, err)
			}
			total++
		}
	}
	t.Logf("%d messages round-tripped across %d drafts", total, len(Versions))
}

// TestVersionGate checks every message refuses to encode in a draft that
// does not define it.
func TestVersionGate(t *testing.T) {
	refused := 0
	for _, v := range Versions {
		for _, w := range Versions {
			for _, m := range samples(w) {
				if newMessage(m.Type(v), v) != nil && reflect.TypeOf(newMessage(m.Type(v), v)) == reflect.TypeOf(m) {
					continue
				}
				if _, err := AppendControl(nil, m, v); err == nil {
					t.Fatalf("%T encoded in %s", m, v)
				}
				refused++
			}
		}
	}
	t.Logf("%d (message, draft) pairs refused", refused)
}

func TestRoundTripSubgroup(t *testing.T) {
	for _, v := range Versions {
		for _, h := range []SubgroupHeader{
			{TrackAlias: 1, Group: 7, Mode: SubgroupZero, Priority: 128, FirstObject: true},
			{TrackAlias: 1 << 40, Group: 1 << 33, Mode: SubgroupExplicit, Subgroup: 3, Priority: 1, Properties: true, EndOfGroup: true, FirstObject: true},
			{TrackAlias: 2, Group: 0, Mode: SubgroupFirstObject, Subgroup: 5, DefaultPriority: v >= Draft16, Properties: true, FirstObject: v < Draft18},
		} {
			objs := []ObjectHeader{{ID: h.Subgroup, Length: 5}, {ID: h.Subgroup + 1, Length: 0, Status: StatusNormal}, {ID: h.Subgroup + 9, Length: 3}, {ID: h.Subgroup + 10, Length: 0, Status: StatusEndOfGroup}}
			if h.Properties {
				objs[0].Properties = sampleProps(Draft20)
				if v < Draft16 {
					objs[0].Properties = Parameters{}
					objs[0].Properties.SetInt(0x3c, 1)
				}
			}
			if h.Mode == SubgroupZero {
				for i := range objs {
					objs[i].ID -= h.Subgroup
				}
			}
			b, err := h.AppendTo(nil, v)
			if err != nil {
				t.Fatalf("%s %+v: %v", v, h, err)
			}
			ws := NewSubgroupStream(h, v)
			for i := range objs {
				if b, err = ws.AppendObject(b, &objs[i]); err != nil {
					t.Fatalf("%s object %d: %v", v, i, err)
				}
				b = append(b, make([]byte, objs[i].Length)...)
			}
			r := reader(b)
			typ, err := ReadInt(r, v)
			if err != nil || !IsSubgroupType(typ, v) {
				t.Fatalf("%s: type 0x%x, %v", v, typ, err)
			}
			got, err := ReadSubgroupHeader(r, typ, v)
			want := h
			if want.Mode == SubgroupFirstObject {
				want.Subgroup = 0 // learned from the first object
			}
			if v < Draft18 {
				want.FirstObject = true
			}
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("%s header: got %+v, %v; want %+v", v, got, err, want)
			}
			rs := NewSubgroupStream(got, v)
			for i := range objs {
				o, err := rs.ReadObject(r)
				if err != nil || !reflect.DeepEqual(o, objs[i]) {
					t.Fatalf("%s object %d: got %+v, %v; want %+v", v, i, o, err, objs[i])
				}
				if err := r.ReadFull(make([]byte, o.Length)); err != nil {
					t.Fatal(err)
				}
			}
			if rs.Header.Subgroup != h.Subgroup {
				t.Fatalf("%s: subgroup %d, want %d", v, rs.Header.Subgroup, h.Subgroup)
			}
			if _, err := rs.ReadObject(r); err == nil {
				t.Fatalf("%s: object after the end", v)
			}
		}
	}
}

func TestRoundTripFetchStream(t *testing.T) {
	for _, v := range Versions {
		for _, desc := range []bool{false, true} {
			g := func(x uint64) uint64 {
				if desc {
					return 100 - x
				}
				return x
			}
			objs := []FetchObject{
				{Group: g(1), Subgroup: 0, ID: 0, Priority: 3, Length: 4},
				{Group: g(1), Subgroup: 0, ID: 1, Priority: 3, Length: 2},
				{Group: g(1), Subgroup: 1, ID: 5, Priority: 9, Length: 0},
				{Group: g(1), Subgroup: 2, ID: 6, Priority: 9, Length: 1},
				{Group: g(2), Subgroup: 7, ID: 0, Priority: 9, Length: 1},
				{Group: g(4), Subgroup: 7, ID: 3, Priority: 9, Length: 2},
			}
			objs[1].Properties.SetInt(0x3c, 2)
			if v >= Draft16 {
				objs = append(objs, FetchObject{Group: g(4), ID: 4, Datagram: true, Priority: 1, Length: 3},
					FetchObject{Group: g(6), ID: 9, EndOfRange: EndOfNonExistentRange})
			}
			if v <= Draft15 {
				objs[2].Status = StatusEndOfGroup
			}
			if v == Draft14 {
				objs[0].Properties = Parameters{}
			}
			b, err := (&FetchHeader{RequestID: 77}).AppendTo(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			ws := NewFetchStream(v, desc)
			for i := range objs {
				if b, err = ws.AppendObject(b, &objs[i]); err != nil {
					t.Fatalf("%s desc=%v object %d: %v", v, desc, i, err)
				}
				b = append(b, make([]byte, objs[i].Length)...)
			}
			r := reader(b)
			if typ, err := ReadInt(r, v); err != nil || typ != StreamFetch {
				t.Fatalf("type %d, %v", typ, err)
			}
			if h, err := ReadFetchHeader(r, v); err != nil || h.RequestID != 77 {
				t.Fatalf("header %+v, %v", h, err)
			}
			rs := NewFetchStream(v, desc)
			for i := range objs {
				o, err := rs.ReadObject(r)
				if err != nil || !reflect.DeepEqual(o, objs[i]) {
					t.Fatalf("%s desc=%v object %d:\n got %+v, %v\nwant %+v\nwire %x", v, desc, i, o, err, objs[i], b)
				}
				if err := r.ReadFull(make([]byte, o.Length)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func TestRoundTripDatagram(t *testing.T) {
	n := 0
	for _, v := range Versions {
		for _, d := range []Datagram{
			{TrackAlias: 1, Group: 2, Object: 3, Priority: 4, Payload: []byte("abc")},
			{TrackAlias: 1, Group: 2, Object: 0, Priority: 4, EndOfGroup: true, Payload: []byte{}},
			{TrackAlias: 1, Group: 2, Object: 3, Priority: 4, IsStatus: true, Status: StatusEndOfTrack},
			{TrackAlias: 1 << 50, Group: 2, Object: 0, Priority: 4, IsStatus: true, Status: StatusNormal},
			{TrackAlias: 1, Group: 2, Object: 7, DefaultPriority: true, Payload: []byte("x")},
		} {
			if !d.IsStatus || d.Status == StatusNormal {
				d.Properties.SetInt(0x3c, 1)
			}
			if d.DefaultPriority && v < Draft16 {
				if _, err := d.AppendTo(nil, v); err == nil {
					t.Fatalf("%s: %+v encoded", v, d)
				}
				continue
			}
			b, err := d.AppendTo(nil, v)
			if err != nil {
				t.Fatalf("%s %+v: %v", v, d, err)
			}
			got, err := ParseDatagram(b, v)
			if err != nil || !reflect.DeepEqual(got, d) {
				t.Fatalf("%s: got %+v, %v; want %+v (wire %x)", v, got, err, d, b)
			}
			n++
		}
	}
	t.Logf("%d datagrams round-tripped", n)
}

func TestALPN(t *testing.T) {
	for _, v := range Versions {
		got, ok := ParseALPN(v.ALPN())
		if !ok || got != v {
			t.Fatalf("ParseALPN(%q) = %v, %v", v.ALPN(), got, ok)
		}
	}
	if Draft14.ALPN() != "moq-00" || Draft20.ALPN() != "moqt-20" || Draft17.String() != "draft-17" {
		t.Fatal("names")
	}
	if _, ok := ParseALPN("moq-lite-03"); ok {
		t.Fatal("moq-lite accepted")
	}
	if Draft16.RequestStreams() || !Draft17.RequestStreams() {
		t.Fatal("RequestStreams")
	}
}
