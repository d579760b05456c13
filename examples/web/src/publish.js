// publish.html: publishes the camera or the screen with <moq-publish>
// (@moq/publish) and links to the watch page for the same broadcast.
import "@moq/publish/element";
import { nodeURL, query, setQuery, status } from "./page.js";

const form = document.getElementById("form");
const urlInput = document.getElementById("url");
const nameInput = document.getElementById("name");
const sourceInput = document.getElementById("source");
const mutedInput = document.getElementById("muted");
const publisher = document.getElementById("publisher");
const watchLink = document.getElementById("watchlink");

function start() {
	let url;
	try {
		url = nodeURL(urlInput.value);
	} catch (e) {
		status(String(e.message ?? e));
		return;
	}
	const name = nameInput.value.trim();
	if (!name) {
		status("a broadcast name is needed (end it with .hang)");
		return;
	}
	const source = sourceInput.value;
	setQuery({ url: url.href, name, source, muted: mutedInput.checked ? "1" : "" });
	publisher.setAttribute("url", url.href);
	publisher.setAttribute("name", name);
	if (mutedInput.checked) publisher.setAttribute("muted", "");
	else publisher.removeAttribute("muted");
	publisher.setAttribute("source", source);
	const watch = new URL("watch.html", location.href);
	watch.search = new URLSearchParams({ url: url.href, name }).toString();
	watchLink.innerHTML = "";
	const a = document.createElement("a");
	a.href = watch.href;
	a.textContent = "watch it (change the node to watch it from another one)";
	watchLink.append(a);
}

function stop() {
	publisher.removeAttribute("source");
	publisher.removeAttribute("url");
	status("stopped");
}

form.addEventListener("submit", (e) => {
	e.preventDefault();
	start();
});
document.getElementById("stop").onclick = stop;
// For the tests: end the session before the tab goes away.
window.moqPublish = {
	close() {
		stop();
		publisher.connection.close();
	},
};

publisher.connection.status.subscribe((s) => {
	if (publisher.getAttribute("url")) status(`${s}: ${publisher.getAttribute("name")} on ${publisher.getAttribute("url")} (${publisher.getAttribute("source")})`);
});

const q = query();
urlInput.value = q.url ?? `${location.protocol}//${location.hostname || "127.0.0.1"}:4444/`;
nameInput.value = q.name ?? `me-${Math.random().toString(36).slice(2, 6)}.hang`;
if (q.source === "screen") sourceInput.value = "screen";
mutedInput.checked = q.muted === "1";
if (q.url && q.name && q.autoplay !== "0") start();
