// Package hang publishes live video in the "hang" media format that the
// browser players of the MoQ ecosystem (@moq/watch, @moq/publish) speak: a
// JSON catalog track describing the renditions, and one track per rendition
// carrying timestamped frames, one group per group of pictures.
//
// The facts below were read from the published npm packages, @moq/watch
// 0.4.6 (which depends on @moq/hang ^0.3.5, @moq/net ^0.2.8 and, through
// @moq/hang, @moq/json ^0.3.1), @moq/hang 0.3.5, @moq/json 0.3.3, @moq/net
// 0.2.8 and @moq/publish 0.2.17 (which still depends on @moq/hang ^0.2.13);
// file names are inside each package.
//
// Broadcast name (@moq/hang catalog/format.js; @moq/watch
// source-*.js, the broadcast's catalog effect): a broadcast name's suffix
// picks the catalog format: ".hang" selects the hang catalog on track
// "catalog.json" (".msf" selects MSF). A name without a known suffix is
// read as hang too (DEFAULT_FORMAT), but @moq/publish warns that a name
// should end in ".hang", so publish as e.g. "testpattern.hang". @moq/watch
// subscribes only once the broadcast is announced to it, with its full name
// as the announcement prefix (unless reload is off).
//
// Catalog track "catalog.json" (@moq/json snapshot/consumer.js,
// snapshot/decoder.js): each group is self-contained; its first frame is
// the whole catalog as UTF-8 JSON, later frames of the same group are RFC
// 7396 merge patches. A reader jumps to the newest group. This package
// writes every catalog as a new group of one frame. ("catalog.json.z" is
// the same, DEFLATE-compressed; not used here.)
//
// Catalog JSON (@moq/hang catalog/root.js, video.js, container.js, hex.js,
// integers.js): {"video": {"renditions": {TRACK: CONFIG, ...}, "display":
// {"width", "height"}, "rotation", "flip"}, "audio": {...}}; unknown root
// sections pass. CONFIG mirrors WebCodecs VideoDecoderConfig: "codec"
// (required, a WebCodecs codec string such as "avc1.64001f"), "container"
// ({"kind": "legacy"} by default; "cmaf" with a base64 "init", or "loc"),
// "description" (optional, hex: for H.264 an avcC record, which makes the
// frames length-prefixed AVCC; without it the frames are Annex-B with SPS
// and PPS in band), "codedWidth", "codedHeight", "displayAspectWidth",
// "displayAspectHeight", "bitrate", "jitter" (ms; integers ≥ 0),
// "framerate" (a number), "optimizeForLatency" (default true), "broadcast"
// and "timeline" (not used here).
//
// What @moq/publish 0.2.17 sends for a camera (source-*.js, the video
// encoder and Root classes), and what this package sends too: track
// "video/hd" (and "video/sd"), codec "avc1.…" from the encoder, container
// legacy, no description, the WebCodecs encoder set to avc.format
// "annexb" (so every keyframe carries SPS and PPS in band), codedWidth and
// codedHeight, framerate, bitrate, optimizeForLatency true, jitter
// ceil(1000/framerate), and "display" with the frame size.
//
// Video decoding in @moq/watch (source-*.js, the video source and decoder
// classes): a rendition is playable when VideoDecoder.isConfigSupported
// accepts its codec and description (an "avc3." codec is retried as
// "avc1."); the decoder is configured with the rendition (minus
// codedWidth/codedHeight) and the hex description decoded to bytes, or
// none. Each frame becomes an EncodedVideoChunk with the container's
// timestamp in microseconds.
//
// Frame container "legacy" (@moq/hang container/legacy.js; @moq/net
// varint.js encode/decode): each MoQ frame is a QUIC variable-length
// integer (RFC 9000 §16: 1, 2, 4 or 8 bytes, the top two bits giving the
// length) holding the presentation timestamp in microseconds, followed by
// the codec payload; an empty payload is a marker, not a sample. The
// container says nothing about keyframes.
//
// Groups (@moq/hang container/legacy.js Producer, container/consumer.js):
// a keyframe starts a new group and a group never starts without one; the
// consumer marks frame 0 of every group as a keyframe whatever the payload,
// and for the legacy container every later frame as a delta. So: one group
// per GOP, IDR first, no other IDR inside the group. The consumer starts at
// the first group it receives and skips groups that fall behind its latency
// target; timestamps should increase (a backwards jump is treated as a
// rewind, a discontinuity).
package hang
