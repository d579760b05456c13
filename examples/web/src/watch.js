// watch.html: plays a broadcast with <moq-watch> (@moq/watch) and lists the
// broadcasts the node announces (@moq/net), updated live; a click plays one.
//
// For the tests, window.moqWatch exposes the list and a summary of the
// canvas's pixels.
import "@moq/watch/element";
import { Connection, Path } from "@moq/net";
import { nodeURL, query, setQuery, status } from "./page.js";

const form = document.getElementById("form");
const urlInput = document.getElementById("url");
const nameInput = document.getElementById("name");
const list = document.getElementById("broadcasts");
const player = document.getElementById("player");

const live = new Set(); // broadcast paths the node announces right now
let listing; // {url, stop()} of the announcement listener

function renderList() {
	list.replaceChildren();
	for (const name of [...live].sort()) {
		const li = document.createElement("li");
		const b = document.createElement("button");
		b.type = "button";
		b.textContent = name;
		if (name === nameInput.value) b.className = "current";
		b.onclick = () => {
			nameInput.value = name;
			start();
		};
		li.append(b);
		list.append(li);
	}
	if (live.size === 0) {
		const li = document.createElement("li");
		li.textContent = listing ? "(none yet)" : "";
		list.append(li);
	}
}

// listen keeps one announcement listener on url (reconnecting every 2 s
// while the page shows that node) and fills the list from it.
function listen(url) {
	if (listing?.url === url.href) return;
	listing?.stop();
	live.clear();
	let stopped = false;
	let conn;
	listing = {
		url: url.href,
		stop() {
			stopped = true;
			conn?.close();
		},
	};
	renderList();
	(async () => {
		while (!stopped) {
			try {
				conn = await Connection.connect(url, { websocket: { enabled: false } });
				if (stopped) break;
				const announced = conn.announced(Path.empty());
				for (;;) {
					const ev = await announced.next();
					if (!ev) break;
					if (ev.active) live.add(String(ev.path));
					else live.delete(String(ev.path));
					renderList();
				}
			} catch (e) {
				console.warn(`announcements from ${url}: ${e?.message ?? e}`);
			}
			conn?.close();
			if (stopped) break;
			live.clear();
			renderList();
			await new Promise((resolve) => setTimeout(resolve, 2000));
		}
	})();
}

function start() {
	let url;
	try {
		url = nodeURL(urlInput.value);
	} catch (e) {
		status(String(e.message ?? e));
		return;
	}
	const name = nameInput.value.trim();
	setQuery({ url: url.href, name });
	listen(url);
	player.setAttribute("url", url.href);
	if (name) player.setAttribute("name", name);
	else player.removeAttribute("name");
	renderList();
	status(name ? `watching ${name} from ${url.host}` : `pick a broadcast on ${url.host}`);
}

form.addEventListener("submit", (e) => {
	e.preventDefault();
	start();
});

player.connection.status.subscribe((s) => {
	document.title = `watch: ${nameInput.value || "-"} (${s})`;
});

// canvasStats summarises the canvas at 64×36: whether it shows anything
// (not one flat colour) and a hash of its pixels.
function canvasStats() {
	const canvas = player.querySelector("canvas");
	const small = document.createElement("canvas");
	small.width = 64;
	small.height = 36;
	const ctx = small.getContext("2d", { willReadFrequently: true });
	ctx.drawImage(canvas, 0, 0, small.width, small.height);
	const px = ctx.getImageData(0, 0, small.width, small.height).data;
	let min = 255;
	let max = 0;
	let hash = 0x811c9dc5;
	for (let i = 0; i < px.length; i++) {
		if (i % 4 !== 3) {
			min = Math.min(min, px[i]);
			max = Math.max(max, px[i]);
		}
		hash = Math.imul(hash ^ px[i], 0x01000193) >>> 0;
	}
	return { width: canvas.width, height: canvas.height, blank: max - min < 8, spread: max - min, hash: hash.toString(16) };
}
// close ends both sessions (player and list), so the node sees them closed
// rather than timing out when the tab goes away.
function close() {
	listing?.stop();
	listing = undefined;
	player.removeAttribute("url");
	player.connection.close();
}
window.moqWatch = { broadcasts: () => [...live].sort(), canvasStats, close };

const q = query();
urlInput.value = q.url ?? `${location.protocol}//${location.hostname || "127.0.0.1"}:4445/`;
nameInput.value = q.name ?? "";
if (q.url && q.autoplay !== "0") start();
else renderList();
