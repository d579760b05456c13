package message

import (
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// fuzzVersion maps a fuzzer byte to a draft.
func fuzzVersion(b uint8) Version { return Versions[int(b)%len(Versions)] }

// checkClassified fails unless err is a *wire.Error (every decoding failure
// must carry a code to close the session with).
func checkClassified(t *testing.T, err error) {
	t.Helper()
	var we *wire.Error
	if !errors.As(err, &we) {
		t.Fatalf("unclassified error %v (%T)", err, err)
	}
}

// checkReencode encodes a decoded message and decodes it again: the codec
// must accept its own output and give back the same message.
func checkReencode(t *testing.T, m Message, v Version) {
	t.Helper()
	b, err := AppendControl(nil, m, v)
	if err != nil {
		t.Fatalf("%s: decoded %T %+v does not re-encode: %v", v, m, m, err)
	}
	again, rest, err := ParseControl(b, v)
	if err != nil || len(rest) != 0 || !reflect.DeepEqual(again, m) {
		t.Fatalf("%s: %T changed on re-encoding:\n was %+v\n now %+v, %v", v, m, m, again, err)
	}
}

func seedControl(f *testing.F) {
	for i, v := range Versions {
		for _, m := range samples(v) {
			b, err := AppendControl(nil, m, v)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(uint8(i), b)
		}
	}
}

// FuzzControl decodes arbitrary bytes as framed control messages of any
// draft: no panic, every error classified, every success re-encodes to the
// same message, and the stream reader agrees with the byte parser.
func FuzzControl(f *testing.F) {
	seedControl(f)
	f.Fuzz(func(t *testing.T, vb uint8, data []byte) {
		v := fuzzVersion(vb)
		m, rest, err := ParseControl(data, v)
		rm, rerr := ReadControl(reader(data), v)
		if err != nil {
			if rerr == nil {
				t.Fatalf("ReadControl accepted what ParseControl refused (%v)", err)
			}
			checkClassified(t, err)
			if rerr != io.EOF {
				checkClassified(t, rerr)
			}
			return
		}
		if rerr != nil || !reflect.DeepEqual(rm, m) {
			t.Fatalf("ReadControl = %+v, %v; ParseControl = %+v", rm, rerr, m)
		}
		_ = rest
		checkReencode(t, m, v)
	})
}

// FuzzSetup decodes arbitrary bodies as each draft's setup messages.
func FuzzSetup(f *testing.F) {
	for i, v := range Versions {
		for _, m := range samples(v) {
			switch m.(type) {
			case *Setup, *ClientSetup, *ServerSetup:
				b, _ := m.AppendTo(nil, v)
				f.Add(uint8(i), b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, vb uint8, body []byte) {
		v := fuzzVersion(vb)
		var ms []Message
		if v.RequestStreams() {
			ms = []Message{&Setup{}}
		} else {
			ms = []Message{&ClientSetup{}, &ServerSetup{}}
		}
		for _, m := range ms {
			if err := m.DecodeBody(body, v); err != nil {
				checkClassified(t, err)
				continue
			}
			checkReencode(t, m, v)
		}
	})
}

// FuzzSubgroup reads arbitrary bytes as a subgroup stream (type, header,
// objects with payloads) and checks that what decodes re-encodes to the same
// headers and objects.
func FuzzSubgroup(f *testing.F) {
	for i, v := range Versions {
		h := SubgroupHeader{TrackAlias: 3, Group: 9, Mode: SubgroupExplicit, Subgroup: 2, Priority: 4, Properties: true, FirstObject: true}
		b, _ := h.AppendTo(nil, v)
		s := NewSubgroupStream(h, v)
		o := ObjectHeader{ID: 1, Length: 2}
		o.Properties.SetInt(0x3c, 1)
		b, _ = s.AppendObject(b, &o)
		b = append(b, "hi"...)
		b, _ = s.AppendObject(b, &ObjectHeader{ID: 4, Status: StatusEndOfGroup})
		f.Add(uint8(i), b)
	}
	f.Fuzz(func(t *testing.T, vb uint8, data []byte) {
		v := fuzzVersion(vb)
		r := reader(data)
		typ, err := ReadInt(r, v)
		if err != nil || !IsSubgroupType(typ, v) {
			return
		}
		h, err := ReadSubgroupHeader(r, typ, v)
		if err != nil {
			checkClassified(t, err)
			return
		}
		rs := NewSubgroupStream(h, v)
		var objs []ObjectHeader
		var payloads [][]byte
		for len(objs) < 64 {
			o, err := rs.ReadObject(r)
			if err == io.EOF {
				break
			}
			if err != nil {
				checkClassified(t, err)
				break
			}
			if o.Length > uint64(len(data)) {
				break
			}
			p, err := r.ReadN(int(o.Length))
			if err != nil {
				break
			}
			objs, payloads = append(objs, o), append(payloads, p)
		}
		// Re-encode: the header as first read (its subgroup, for the
		// first-object mode, is learned from the first object).
		wh := h
		if wh.Mode == SubgroupFirstObject && len(objs) > 0 {
			wh.Subgroup = objs[0].ID
		}
		b, err := wh.AppendTo(nil, v)
		if err != nil {
			t.Fatalf("header %+v does not re-encode: %v", wh, err)
		}
		ws := NewSubgroupStream(wh, v)
		for i := range objs {
			if b, err = ws.AppendObject(b, &objs[i]); err != nil {
				t.Fatalf("object %+v does not re-encode: %v", objs[i], err)
			}
			b = append(b, payloads[i]...)
		}
		r2 := reader(b)
		typ2, _ := ReadInt(r2, v)
		h2, err := ReadSubgroupHeader(r2, typ2, v)
		if err != nil || !reflect.DeepEqual(h2, h) {
			t.Fatalf("header %+v became %+v, %v", h, h2, err)
		}
		rs2 := NewSubgroupStream(h2, v)
		for i := range objs {
			o, err := rs2.ReadObject(r2)
			if err != nil || !reflect.DeepEqual(o, objs[i]) {
				t.Fatalf("object %+v became %+v, %v", objs[i], o, err)
			}
			if _, err := r2.ReadN(int(o.Length)); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzFetch reads arbitrary bytes as a FETCH stream of either group order.
func FuzzFetch(f *testing.F) {
	for i, v := range Versions {
		b, _ := (&FetchHeader{RequestID: 4}).AppendTo(nil, v)
		s := NewFetchStream(v, false)
		for _, o := range []FetchObject{{Group: 1, ID: 0, Priority: 2, Length: 1}, {Group: 1, Subgroup: 1, ID: 3, Priority: 2, Length: 1}, {Group: 4, ID: 0, Priority: 5, Length: 0}} {
			b, _ = s.AppendObject(b, &o)
			b = append(b, make([]byte, o.Length)...)
		}
		f.Add(uint8(i), false, b)
	}
	f.Fuzz(func(t *testing.T, vb uint8, desc bool, data []byte) {
		v := fuzzVersion(vb)
		r := reader(data)
		if typ, err := ReadInt(r, v); err != nil || typ != StreamFetch {
			return
		}
		h, err := ReadFetchHeader(r, v)
		if err != nil {
			checkClassified(t, err)
			return
		}
		rs := NewFetchStream(v, desc)
		var objs []FetchObject
		var payloads [][]byte
		for len(objs) < 64 {
			o, err := rs.ReadObject(r)
			if err == io.EOF {
				break
			}
			if err != nil {
				checkClassified(t, err)
				break
			}
			if o.Length > uint64(len(data)) {
				break
			}
			p, err := r.ReadN(int(o.Length))
			if err != nil {
				break
			}
			objs, payloads = append(objs, o), append(payloads, p)
		}
		b, err := h.AppendTo(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		ws := NewFetchStream(v, desc)
		for i := range objs {
			if b, err = ws.AppendObject(b, &objs[i]); err != nil {
				t.Fatalf("%s: object %d %+v does not re-encode: %v", v, i, objs[i], err)
			}
			b = append(b, payloads[i]...)
		}
		r2 := reader(b)
		_, _ = ReadInt(r2, v)
		if _, err := ReadFetchHeader(r2, v); err != nil {
			t.Fatal(err)
		}
		rs2 := NewFetchStream(v, desc)
		for i := range objs {
			o, err := rs2.ReadObject(r2)
			if err != nil || !reflect.DeepEqual(o, objs[i]) {
				t.Fatalf("%s: object %d %+v became %+v, %v", v, i, objs[i], o, err)
			}
			if _, err := r2.ReadN(int(o.Length)); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzDatagram decodes arbitrary bytes as an OBJECT_DATAGRAM.
func FuzzDatagram(f *testing.F) {
	for i, v := range Versions {
		d := Datagram{TrackAlias: 1, Group: 2, Object: 3, Priority: 4, Payload: []byte("abc")}
		d.Properties.SetInt(0x3c, 1)
		b, _ := d.AppendTo(nil, v)
		f.Add(uint8(i), b)
		d = Datagram{TrackAlias: 1, Group: 2, IsStatus: true, Status: StatusEndOfTrack}
		b, _ = d.AppendTo(nil, v)
		f.Add(uint8(i), b)
	}
	f.Fuzz(func(t *testing.T, vb uint8, data []byte) {
		v := fuzzVersion(vb)
		d, err := ParseDatagram(data, v)
		if err != nil {
			checkClassified(t, err)
			return
		}
		b, err := d.AppendTo(nil, v)
		if err != nil {
			t.Fatalf("%s: %+v does not re-encode: %v", v, d, err)
		}
		again, err := ParseDatagram(b, v)
		if err != nil || !reflect.DeepEqual(again, d) {
			t.Fatalf("%s: %+v became %+v, %v", v, d, again, err)
		}
	})
}
