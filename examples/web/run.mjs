#!/usr/bin/env node
// Drives the interop page in headless Chromium and prints its result as JSON lines.
//
//   node run.mjs --pkg lite|net --mode sub|pub|wtcheck --relay http://127.0.0.1:PORT/ \
//       --broadcast clock --track seconds [--count 3] [--frames 5 --interval 200 --hold 3000] \
//       [--prefix frame] [--alpn moq-lite-04,moq-lite-03] [--timeout 20000]
//
// stdout: one JSON object per line. Progress lines have "final":false; the last
// line has "event":"result","final":true. Exit 0 iff that result has "ok":true.
// Everything else (page console, browser noise) goes to stderr. See README.md.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const FLAGS = [
	"--headless",
	"--no-sandbox",
	"--disable-gpu",
	"--no-first-run",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
];

const { values: opt } = parseArgs({
	options: {
		pkg: { type: "string", default: "lite" },
		mode: { type: "string", default: "sub" },
		relay: { type: "string" },
		broadcast: { type: "string", default: "" },
		track: { type: "string", default: "" },
		count: { type: "string", default: "3" },
		frames: { type: "string", default: "5" },
		interval: { type: "string", default: "200" },
		hold: { type: "string", default: "3000" },
		prefix: { type: "string", default: "frame" },
		alpn: { type: "string", default: "" },
		timeout: { type: "string", default: "20000" },
	},
});

function emit(obj) {
	process.stdout.write(`${JSON.stringify(obj)}\n`);
}

let finalized = false;
let exitCode = 1;
// Prints the single final line; later calls are ignored.
function finalize(result) {
	if (finalized) return;
	finalized = true;
	exitCode = result.ok === true ? 0 : 1;
	emit({ ...result, event: "result", final: true });
}

const timeout = Number(opt.timeout);
const hold = Number(opt.hold);
if (!opt.relay || !["lite", "net"].includes(opt.pkg) || !["sub", "pub", "wtcheck"].includes(opt.mode)) {
	finalize({ ok: false, error: "usage: node run.mjs --pkg lite|net --mode sub|pub|wtcheck --relay URL ..." });
	process.exit(1);
}
if (!Number.isFinite(timeout) || timeout <= 0 || !Number.isFinite(hold) || hold < 0) {
	finalize({ ok: false, error: "bad --timeout or --hold" });
	process.exit(1);
}

// Static server for index.html and the two bundles, on an ephemeral loopback port.
const FILES = {
	"/": ["index.html", "text/html"],
	"/index.html": ["index.html", "text/html"],
	"/dist/lite.js": ["dist/lite.js", "text/javascript"],
	"/dist/net.js": ["dist/net.js", "text/javascript"],
};
const server = http.createServer((req, res) => {
	const entry = FILES[new URL(req.url, "http://x").pathname];
	let body;
	try {
		body = entry && readFileSync(join(here, entry[0]));
	} catch {
		body = undefined;
	}
	if (!body) {
		res.writeHead(404).end("not found");
		return;
	}
	res.writeHead(200, { "content-type": entry[1], "cache-control": "no-store" }).end(body);
});

let context;
let userDataDir;
let browserGroup; // process group of the browser (playwright-core spawns it detached)
let browserGone = false;
let cleaning;

// Finds the browser's process group via our unique --user-data-dir (Linux /proc).
function findBrowserGroup(dir) {
	for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
		try {
			if (!readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(`--user-data-dir=${dir}\0`)) continue;
			const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
			return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
		} catch {}
	}
	return undefined;
}

// True while any member of the group exists, zombies included.
function groupAlive(pgid) {
	try {
		process.kill(-pgid, 0);
		return true;
	} catch {
		return false;
	}
}

// After close(), wait (up to 3 s) until every browser process is gone: helpers
// orphaned to init linger as zombies until init reaps them, about 2 s here.
// SIGKILL stragglers after 1.5 s.
async function waitBrowserGone() {
	// Not known yet if we were interrupted mid-launch: look it up and kill it.
	const group = browserGroup ?? (userDataDir && findBrowserGroup(userDataDir));
	if (!group) return;
	for (let i = 0; i < 30 && groupAlive(group); i++) {
		if (i === (browserGroup ? 15 : 0)) {
			try {
				process.kill(-group, "SIGKILL");
			} catch {}
		}
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
	browserGone = !groupAlive(group);
}

// Closes the browser, the server and the profile dir, then exits. Never hangs:
// a watchdog forces the exit, and playwright-core SIGKILLs the browser's
// process group from its own process 'exit' hook if close() did not finish.
function cleanupAndExit() {
	if (cleaning) return;
	cleaning = true;
	setTimeout(() => process.exit(exitCode), 4000).unref();
	const closing = context ? context.close().catch(() => {}) : Promise.resolve();
	closing.then(waitBrowserGone).finally(() => {
		server.close();
		server.closeAllConnections();
		if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
		process.exit(exitCode);
	});
}

// Last resort on any exit path: kill the browser (found via its profile dir,
// so this also covers a launch still in progress) and remove the profile.
process.on("exit", () => {
	if (!userDataDir) return;
	const group = !browserGone && (browserGroup ?? findBrowserGroup(userDataDir));
	try {
		if (group) process.kill(-group, "SIGKILL");
	} catch {}
	rmSync(userDataDir, { recursive: true, force: true });
});

for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
	process.on(sig, () => {
		finalize({ ok: false, error: `driver interrupted by ${sig}` });
		cleanupAndExit();
	});
}

// Hard deadline: the page's own timeout plus hold (pub) plus a grace period
// for browser start-up and page load. With the 4 s cleanup watchdog the
// process is gone by timeout (+ hold) + 10 s at the latest.
const deadlineMs = timeout + (opt.mode === "pub" ? hold : 0) + 6000;
setTimeout(() => {
	finalize({ ok: false, error: `driver deadline exceeded (${deadlineMs} ms) without a page result` });
	cleanupAndExit();
}, deadlineMs).unref();

async function run() {
	await new Promise((resolve, reject) => {
		server.once("error", reject);
		server.listen(0, "127.0.0.1", resolve);
	});
	const origin = `http://127.0.0.1:${server.address().port}`;

	// Imported only now, after the signal handlers are in place.
	const { chromium } = await import("playwright-core");

	// Chromium occasionally dies at start-up (seen: SIGSEGV when several start
	// at once), so retry the launch with a fresh profile.
	for (let attempt = 1; !context; attempt++) {
		userDataDir = mkdtempSync(join(tmpdir(), "moq-web-"));
		try {
			context = await chromium.launchPersistentContext(userDataDir, {
				executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
				headless: true,
				args: FLAGS,
				handleSIGINT: false,
				handleSIGTERM: false,
				handleSIGHUP: false,
				timeout: 15000,
			});
		} catch (e) {
			rmSync(userDataDir, { recursive: true, force: true });
			process.stderr.write(`[run] launch attempt ${attempt} failed: ${e.message}\n`);
			if (cleaning || attempt === 3) throw new Error(`chromium launch failed: ${e.message.split("\n")[0]}`);
		}
	}
	browserGroup = findBrowserGroup(userDataDir);
	if (!browserGroup) process.stderr.write("[run] warning: browser process group not found\n");

	const page = context.pages()[0] ?? (await context.newPage());
	const result = new Promise((resolve) => {
		page.on("console", (msg) => {
			const text = msg.text();
			process.stderr.write(`[page] ${msg.type()}: ${text}\n`);
			if (text.startsWith("MOQ_EVENT ")) emit({ ...JSON.parse(text.slice(10)), final: false });
			else if (text.startsWith("MOQ_RESULT ")) resolve(JSON.parse(text.slice(11)));
		});
		page.on("pageerror", (err) => process.stderr.write(`[page] uncaught: ${err.message}\n`));
		page.on("crash", () => resolve({ ok: false, error: "page crashed" }));
	});

	const query = new URLSearchParams({
		pkg: opt.pkg,
		mode: opt.mode,
		relay: opt.relay,
		broadcast: opt.broadcast,
		track: opt.track,
		count: opt.count,
		frames: opt.frames,
		interval: opt.interval,
		hold: opt.hold,
		prefix: opt.prefix,
		timeout: String(timeout),
	});
	if (opt.alpn) query.set("alpn", opt.alpn);
	const url = `${origin}/index.html?${query}`;
	process.stderr.write(`[run] ${url}\n`);
	await page.goto(url, { waitUntil: "load", timeout: 15000 });

	// The console line is the primary channel; the DOM is a fallback in case a
	// console message is lost.
	const fromDom = page
		.waitForFunction(() => document.getElementById("result")?.textContent, null, { timeout: 0, polling: 250 })
		.then(async (handle) => JSON.parse(await handle.jsonValue()))
		.catch(() => new Promise(() => {}));
	return Promise.race([result, fromDom]);
}

run().then(
	(r) => {
		finalize(r);
		cleanupAndExit();
	},
	(e) => {
		process.stderr.write(`[run] ${e?.stack ?? e}\n`);
		finalize({ ok: false, error: `driver: ${String(e?.message ?? e).split("\n")[0]}` });
		cleanupAndExit();
	},
);
