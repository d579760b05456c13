// Package dialects registers every MoQ wire dialect this project speaks with
// moqt. It is the one place of the dialects' blank imports: a binary imports
// it for its side effect and then speaks, as client or server, every protocol
// moqt.Protocols lists (moq-lite first, see moqt.Preferrer).
package dialects

import (
	_ "github.com/moq-cluster/moq-relay/moqt/ietf" // moq-transport drafts 14-20: moqt-20 … moqt-15, moq-00
	_ "github.com/moq-cluster/moq-relay/moqt/lite" // moq-lite-03/04 and moql
)
