// Adapter for @moq/lite (0.2.x): Connection.connect, conn.consume(path).subscribe(track, priority),
// track.recvGroup() / group.readFrame(); publishing answers broadcast.requested() per subscription.
import { Broadcast, Connection, Group, Path } from "@moq/lite";
import pkgJson from "../node_modules/@moq/lite/package.json";
import { main, readGroups } from "./common.js";

const decoder = new TextDecoder();

async function subscribe(conn, broadcast, track, onFrame) {
	const sub = conn.consume(Path.from(broadcast)).subscribe(track, 0);
	await readGroups(
		() => sub.recvGroup(),
		async (group) => {
			const frame = await group.readFrame();
			return frame ? decoder.decode(frame) : undefined;
		},
		onFrame,
	);
}

function publish(conn, broadcast, track) {
	const bc = new Broadcast();
	conn.publish(Path.from(broadcast), bc);
	// @moq/lite keeps no cache: every network subscription is a fresh Track object.
	const live = new Set();
	let latest; // [seq, text] of the last group written, replayed to late subscribers
	let first;
	const requested = new Promise((resolve) => {
		first = resolve;
	});
	const send = (t, seq, text) => {
		const group = new Group(seq);
		t.writeGroup(group);
		group.writeString(text);
		group.close();
	};
	(async () => {
		for (;;) {
			const req = await bc.requested();
			if (!req) break;
			if (req.track.name !== track) {
				console.warn(`rejecting request for unknown track ${req.track.name}`);
				req.track.close(new Error("not found"));
				continue;
			}
			console.log(`track ${track} requested (priority ${req.priority})`);
			live.add(req.track);
			req.track.closed.then(() => live.delete(req.track));
			if (latest) send(req.track, ...latest);
			first();
		}
	})().catch((e) => console.warn("requested loop:", e));
	return {
		requested,
		write(seq, text) {
			latest = [seq, text];
			for (const t of live) send(t, seq, text);
		},
		close() {
			bc.close();
		},
	};
}

main("lite", pkgJson.version, {
	connect: (url, props) => Connection.connect(url, props),
	protocol: (conn) => conn.version,
	subscribe,
	publish,
});
