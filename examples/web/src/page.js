// Helpers shared by watch.js and publish.js: the form's query parameters and
// a small status line.

// query returns the page's query parameters as {url, name, ...} strings.
export function query() {
	return Object.fromEntries(new URLSearchParams(location.search));
}

// setQuery records the form's values in the address bar, so the URL can be
// shared or reloaded to get the same page.
export function setQuery(values) {
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(values)) if (v) q.set(k, v);
	history.replaceState(null, "", `${location.pathname}?${q}`);
}

export function status(text) {
	document.getElementById("status").textContent = text;
}

// nodeURL checks a node URL typed by a person: http(s)://host:port/.
export function nodeURL(raw) {
	const u = new URL(raw.trim());
	if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error(`node URL must be http:// or https://, not ${u.protocol}`);
	return u;
}
