// Shared page logic for the interop harness. src/lite.js and src/net.js each
// provide a small adapter over their package; everything else lives here so
// both packages are driven identically.
//
// Adapter shape:
//   connect(url, props)                  -> Promise<connection>
//   protocol(connection)                 -> negotiated version string (or undefined)
//   subscribe(conn, broadcast, track, onFrame(text)) -> Promise that settles when the track ends
//   publish(conn, broadcast, track)      -> { requested: Promise, write(seq, text), close() }
//
// The driver may end a page early with window.moqStop(): in pub mode, once
// writing has begun, that ends the writing or the hold (a normal end, reporting
// how many frames were published); before that, or in sub mode, the page fails
// with "stopped by driver".

const DEFAULT_ALPN = ["moq-lite-04", "moq-lite-03", "moql"];

// readGroups reads a subscription's groups, each in its own task (a group may
// stay open while the next one arrives), and hands their frames on in the
// order the package delivered the groups, as a player does: a group's frames
// wait until the group before it has handed on its first frame or ended.
// Each group is its own QUIC stream, so a renderer that stalls for a frame
// interval can find a later group's data ready before an earlier one's and
// run its reader first; the order the relay sent the groups in is what the
// tests check, not that race. next() yields the next group (undefined at the
// end); read(group) its next frame as text (undefined at the group's end).
export async function readGroups(next, read, onFrame) {
	const readers = [];
	let previous = Promise.resolve();
	for (;;) {
		const group = await next();
		if (!group) break;
		const after = previous;
		let handedOn;
		previous = new Promise((resolve) => (handedOn = resolve));
		readers.push(
			(async () => {
				try {
					await after;
					for (;;) {
						const frame = await read(group);
						if (frame === undefined) break;
						onFrame(frame);
						handedOn();
					}
				} finally {
					handedOn();
				}
			})(),
		);
	}
	await Promise.all(readers);
}

function params() {
	const q = new URLSearchParams(location.search);
	const num = (name, def) => {
		const v = q.get(name);
		if (v === null || v === "") return def;
		const n = Number(v);
		if (!Number.isFinite(n) || n < 0) throw new Error(`bad ${name}: ${v}`);
		return n;
	};
	const alpn = q.get("alpn");
	return {
		relay: q.get("relay") ?? "",
		mode: q.get("mode") ?? "sub",
		broadcast: q.get("broadcast") ?? "",
		track: q.get("track") ?? "",
		count: num("count", 3),
		frames: num("frames", 5),
		interval: num("interval", 200),
		hold: num("hold", 3000),
		timeout: num("timeout", 20000),
		prefix: q.get("prefix") ?? "frame",
		alpn: alpn ? alpn.split(",").filter(Boolean) : undefined,
	};
}

// Flattens the errors these packages throw (AggregateError from their
// transport race, WebTransportError, nested causes) into one readable line.
export function errText(e) {
	if (e instanceof AggregateError && e.errors?.length) return e.errors.map(errText).join("; ");
	let s = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
	if (e?.source !== undefined) s += ` (source=${e.source}, streamErrorCode=${e.streamErrorCode})`;
	if (e?.cause !== undefined) s += ` (cause: ${errText(e.cause)})`;
	return s;
}

function event(name, fields = {}) {
	console.log(`MOQ_EVENT ${JSON.stringify({ event: name, ...fields })}`);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function hexToBytes(hex) {
	const clean = hex.trim();
	if (!/^([0-9a-fA-F]{2})+$/.test(clean)) throw new Error(`bad certificate hash: ${JSON.stringify(clean)}`);
	return new Uint8Array(clean.match(/../g).map((b) => Number.parseInt(b, 16)));
}

// Plain WebTransport check, independent of either package: fetch the pinned
// certificate hash, open a session, echo one bidi stream (if the server echoes).
async function wtcheck(p) {
	const base = new URL(p.relay);
	const res = await fetch(new URL("/certificate.sha256", base));
	if (!res.ok) throw new Error(`GET /certificate.sha256: HTTP ${res.status}`);
	const url = new URL(base);
	url.protocol = "https:";
	const wt = new WebTransport(url, {
		serverCertificateHashes: [{ algorithm: "sha-256", value: hexToBytes(await res.text()) }],
		protocols: p.alpn ?? DEFAULT_ALPN,
	});
	wt.closed.catch(() => {});
	await wt.ready;
	const protocol = wt.protocol;
	event("connected", { protocol });
	const stream = await wt.createBidirectionalStream();
	const writer = stream.writable.getWriter();
	await writer.write(new TextEncoder().encode("ping"));
	await writer.close();
	let echo = "";
	const decoder = new TextDecoder();
	for await (const chunk of stream.readable) echo += decoder.decode(chunk, { stream: true });
	wt.close();
	return { ok: true, protocol, echo };
}

export async function main(pkg, version, adapter) {
	const out = document.getElementById("result");
	const frames = [];
	const times = []; // Date.now() when each frame arrived (sub)
	const sent = []; // Date.now() when each frame was written (pub)
	let phase = "init";
	let protocol;
	let finished = false;
	const finish = (r) => {
		if (finished) return;
		finished = true;
		const result = { ...r, pkg, version, protocol, mode: p?.mode, phase: r.ok ? undefined : phase };
		if (p?.mode === "sub") {
			result.frames = frames;
			result.times = times;
		}
		if (p?.mode === "pub") result.sent = sent;
		const json = JSON.stringify(result);
		out.textContent = json;
		console.log(`MOQ_RESULT ${json}`);
	};

	window.addEventListener("unhandledrejection", (e) => console.warn("unhandled rejection:", errText(e.reason)));
	let stop;
	const stopped = new Promise((resolve) => {
		stop = resolve;
	});
	window.moqStop = () => stop();
	const failOnStop = stopped.then(() => {
		throw new Error("stopped by driver");
	});
	failOnStop.catch(() => {});

	let p;
	let conn;
	let pub;
	let deadline;
	try {
		p = params();
		if (!p.relay) throw new Error("missing relay");
		if (!["sub", "pub", "wtcheck"].includes(p.mode)) throw new Error(`bad mode: ${p.mode}`);
		if (p.mode !== "wtcheck" && (!p.broadcast || !p.track)) throw new Error("missing broadcast or track");

		// Every phase before "published" races this deadline.
		let expire;
		const timeout = new Promise((_, reject) => {
			expire = () => reject(new Error(`timeout after ${p.timeout} ms`));
		});
		deadline = setTimeout(expire, p.timeout);
		const within = (promise) => Promise.race([promise, timeout, failOnStop]);

		if (p.mode === "wtcheck") {
			phase = "wtcheck";
			const r = await within(wtcheck(p));
			protocol = r.protocol;
			finish(r);
			return;
		}

		phase = "connect";
		const url = new URL(p.relay);
		const props = { websocket: { enabled: false } };
		if (p.alpn) props.webtransport = { protocols: p.alpn };
		try {
			conn = await within(adapter.connect(url, props));
		} catch (e) {
			const msg = errText(e);
			if (msg.includes("Failed to fetch")) {
				const hint = new Error(`${msg} (fetch of ${new URL("/certificate.sha256", url)} failed: relay down or no CORS header)`);
				hint.name = "ConnectError";
				throw hint;
			}
			throw e;
		}
		protocol = adapter.protocol(conn);
		event("connected", { protocol });

		if (p.mode === "sub") {
			phase = "subscribe";
			const enough = new Promise((resolve) => {
				const ended = adapter.subscribe(conn, p.broadcast, p.track, (text) => {
					frames.push(text);
					times.push(Date.now());
					console.log(`frame ${frames.length}: ${text}`);
					if (frames.length >= p.count) resolve();
				});
				// A track that ends (cleanly or not) before `count` frames is a failure.
				ended.then(
					() => resolve(new Error(`track ended after ${frames.length} frames`)),
					(e) => resolve(new Error(`track error after ${frames.length} frames: ${errText(e)}`)),
				);
			});
			const err = await within(enough);
			if (err) throw err;
			finish({ ok: true });
			return;
		}

		// pub
		phase = "publish";
		pub = adapter.publish(conn, p.broadcast, p.track);
		event("announced", { broadcast: p.broadcast, track: p.track });
		phase = "wait-request";
		await within(pub.requested);
		event("requested", { track: p.track });
		phase = "write";
		// A stop while writing ends the writing early, as a normal end.
		let writingStopped = false;
		stopped.then(() => {
			writingStopped = true;
		});
		for (let i = 0; i < p.frames; i++) {
			if (i > 0) await Promise.race([sleep(p.interval), timeout, stopped]);
			if (writingStopped) break;
			sent.push(Date.now());
			pub.write(i, `${p.prefix}-${i}`);
		}
		clearTimeout(deadline);
		event("published", { ok: true, published: sent.length });
		phase = "hold";
		await Promise.race([sleep(p.hold), stopped]);
		finish({ ok: true, published: sent.length, done: true });
	} catch (e) {
		finish({ ok: false, error: errText(e) });
	} finally {
		clearTimeout(deadline);
		try {
			pub?.close();
			conn?.close();
		} catch (e) {
			console.warn("close:", errText(e));
		}
	}
}
