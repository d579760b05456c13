// Adapter for @moq/net (0.3.x): Connection.connect, conn.consume(path).subscribe(track, options),
// subscriber.recvGroup() / group.readFrame() -> {payload, timestamp}; publishing uses a
// Broadcast.Producer with a statically created track (the package fans out and caches).
import { Broadcast, Connection, Path } from "@moq/net";
import pkgJson from "../node_modules/@moq/net/package.json";
import { main, readGroups } from "./common.js";

const decoder = new TextDecoder();

async function subscribe(conn, broadcast, track, onFrame) {
	const sub = conn.consume(Path.from(broadcast)).subscribe(track, { priority: 0 });
	await readGroups(
		() => sub.recvGroup(),
		async (group) => {
			const frame = await group.readFrame();
			return frame ? decoder.decode(frame.payload) : undefined;
		},
		onFrame,
	);
}

async function demand(used) {
	while (!used.peek()) await used.changed();
	console.log("track requested");
}

function publish(conn, broadcast, track) {
	const bc = new Broadcast.Producer();
	const producer = bc.createTrack(track);
	conn.publish(Path.from(broadcast), bc);
	// Requests for any other track name land here; refuse them.
	(async () => {
		for (;;) {
			const req = await bc.requested();
			if (!req) break;
			console.warn(`rejecting request for unknown track ${req.name}`);
			req.reject(new Error("not found"));
		}
	})().catch((e) => console.warn("requested loop:", e));
	return {
		requested: demand(producer.used),
		write(seq, text) {
			const group = producer.appendGroup();
			if (group.sequence !== seq) console.warn(`group sequence ${group.sequence} != ${seq}`);
			group.writeString(text);
			group.close();
		},
		close() {
			producer.close();
			bc.close();
		},
	};
}

main("net", pkgJson.version, {
	connect: (url, props) => Connection.connect(url, props),
	protocol: (conn) => conn.version,
	subscribe,
	publish,
});
