package moqt

// Property is one property of a frame: moq-transport's object properties
// (extension headers, e.g. LOC's capture timestamp), which a relay must
// forward and cache even when it does not understand them. By that
// protocol's convention an even Key carries Int and an odd Key carries
// Bytes. moq-lite has no properties: its sessions neither send nor keep
// them.
type Property struct {
	Key   uint64
	Int   uint64
	Bytes []byte
}

// propertiesSize is what props add to a cached group, for its budget.
func propertiesSize(props []Property) int {
	n := 0
	for _, p := range props {
		n += 16 + len(p.Bytes)
	}
	return n
}
