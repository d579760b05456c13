#!/usr/bin/env node
// Drives the interop page in headless Chromium and prints its result as JSON lines.
//
// One page:
//   node run.mjs --pkg lite|net --mode sub|pub|wtcheck --relay http://127.0.0.1:PORT/ \
//       --broadcast clock --track seconds [--count 3] [--frames 5 --interval 200 --hold 3000] \
//       [--prefix frame] [--alpn moq-lite-04,moq-lite-03] [--timeout 20000]
//
// Many pages in one browser (what the Go tests use):
//   node run.mjs --serve
// reads one JSON request per line on stdin: {"id":"x","pkg":..,"mode":..,"relay":..,...}
// (the flags above as fields) opens a page for it, or {"stop":"x"} ends page x early.
// Every stdout line then carries the request's "id". Stdin closing (or SIGTERM) closes
// the browser.
//
// stdout: one JSON object per line. Progress lines have "final":false; a page's last
// line has "event":"result","final":true. Exit 0 iff that result has "ok":true (one
// page), or iff the browser was closed cleanly (--serve). Everything else (page
// console, browser noise) goes to stderr. See README.md.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
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

// A page request's fields and their defaults (strings, as on the command line).
const DEFAULTS = {
	pkg: "lite",
	mode: "sub",
	relay: "",
	broadcast: "",
	track: "",
	count: "3",
	frames: "5",
	interval: "200",
	hold: "3000",
	prefix: "frame",
	alpn: "",
	timeout: "20000",
};

const options = { serve: { type: "boolean", default: false } };
for (const [name, def] of Object.entries(DEFAULTS)) options[name] = { type: "string", default: def };
const { values: opt } = parseArgs({ options });

function emit(obj) {
	process.stdout.write(`${JSON.stringify(obj)}\n`);
}

// Fills a request's defaults and checks it; returns [request, error].
function checkRequest(raw) {
	const req = {};
	for (const [name, def] of Object.entries(DEFAULTS)) {
		const v = raw[name];
		req[name] = v === undefined || v === null ? def : String(v);
	}
	if (!req.relay || !["lite", "net"].includes(req.pkg) || !["sub", "pub", "wtcheck"].includes(req.mode)) {
		return [req, "usage: --pkg lite|net --mode sub|pub|wtcheck --relay URL ..."];
	}
	const timeout = Number(req.timeout);
	const hold = Number(req.hold);
	if (!Number.isFinite(timeout) || timeout <= 0 || !Number.isFinite(hold) || hold < 0) {
		return [req, "bad --timeout or --hold"];
	}
	return [req, undefined];
}

// The longest a page may take before the driver gives up on it: the page's
// own timeout plus hold (pub) plus a grace period for page load.
function deadlineMs(req) {
	return Number(req.timeout) + (req.mode === "pub" ? Number(req.hold) : 0) + 6000;
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
let origin;

let context;
let userDataDir;
let browserGroup; // process group of the browser (playwright-core spawns it detached)
let browserGone = false;
let cleaning;
let exitCode = 1;

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

// Starts the static server and Chromium.
async function launch() {
	await new Promise((resolve, reject) => {
		server.once("error", reject);
		server.listen(0, "127.0.0.1", resolve);
	});
	origin = `http://127.0.0.1:${server.address().port}`;

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
}

// Runs one page for req in a new tab and returns its result; progress events
// go to out, console lines to stderr with tag. job.stop() ends it early (see
// common.js); job.page is set while the tab is open.
async function runPage(req, job, out, tag) {
	const page = await context.newPage();
	job.page = page;
	let timer;
	try {
		const result = new Promise((resolve) => {
			page.on("console", (msg) => {
				const text = msg.text();
				process.stderr.write(`${tag}[page] ${msg.type()}: ${text}\n`);
				if (text.startsWith("MOQ_EVENT ")) out(JSON.parse(text.slice(10)));
				else if (text.startsWith("MOQ_RESULT ")) resolve(JSON.parse(text.slice(11)));
			});
			page.on("pageerror", (err) => process.stderr.write(`${tag}[page] uncaught: ${err.message}\n`));
			page.on("crash", () => resolve({ ok: false, error: "page crashed" }));
		});
		const ms = deadlineMs(req);
		const deadline = new Promise((resolve) => {
			timer = setTimeout(() => resolve({ ok: false, error: `driver deadline exceeded (${ms} ms) without a page result` }), ms);
		});

		const query = new URLSearchParams(req);
		if (!req.alpn) query.delete("alpn");
		const url = `${origin}/index.html?${query}`;
		process.stderr.write(`${tag}[run] ${url}\n`);
		// A failed load rejects; a good one leaves the result to the page.
		const loaded = page.goto(url, { waitUntil: "load", timeout: 15000 }).then(() => {
			if (job.stopped) job.stop(); // asked before the page could hear it
			return new Promise(() => {});
		});
		// The console line is the primary channel; the DOM is a fallback in case a
		// console message is lost.
		const fromDom = page
			.waitForFunction(() => document.getElementById("result")?.textContent, null, { timeout: 0, polling: 250 })
			.then(async (handle) => JSON.parse(await handle.jsonValue()))
			.catch(() => new Promise(() => {}));
		return await Promise.race([result, fromDom, deadline, loaded]);
	} finally {
		clearTimeout(timer);
		job.page = undefined;
		await page.close().catch(() => {});
	}
}

function newJob() {
	const job = { stopped: false, page: undefined };
	job.stop = () => {
		job.stopped = true;
		job.page?.evaluate(() => window.moqStop?.()).catch(() => {});
	};
	return job;
}

const errorText = (e) => String(e?.message ?? e).split("\n")[0];

// One page, its lines on stdout; exit 0 iff it succeeded.
async function single() {
	let finalized = false;
	// Prints the single final line; later calls are ignored.
	const finalize = (result) => {
		if (finalized) return;
		finalized = true;
		exitCode = result.ok === true ? 0 : 1;
		emit({ ...result, event: "result", final: true });
	};
	const [req, bad] = checkRequest(opt);
	if (bad) {
		finalize({ ok: false, error: bad });
		process.exit(1);
	}
	for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
		process.on(sig, () => {
			finalize({ ok: false, error: `driver interrupted by ${sig}` });
			cleanupAndExit();
		});
	}
	// Hard deadline, also covering the browser launch. With the 4 s cleanup
	// watchdog the process is gone by timeout (+ hold) + 10 s at the latest.
	const ms = deadlineMs(req);
	setTimeout(() => {
		finalize({ ok: false, error: `driver deadline exceeded (${ms} ms) without a page result` });
		cleanupAndExit();
	}, ms).unref();
	try {
		await launch();
		finalize(await runPage(req, newJob(), (ev) => emit({ ...ev, final: false }), ""));
	} catch (e) {
		process.stderr.write(`[run] ${e?.stack ?? e}\n`);
		finalize({ ok: false, error: `driver: ${errorText(e)}` });
	}
	cleanupAndExit();
}

// Many pages in one browser, requested on stdin.
async function serve() {
	const jobs = new Map(); // id -> job, while its page runs
	const finish = (id, result) => {
		if (!jobs.delete(id)) return;
		emit({ ...result, id, event: "result", final: true });
	};
	// Every page still open fails with reason; then the browser closes.
	const shutdown = (reason, code) => {
		exitCode = code;
		for (const id of [...jobs.keys()]) finish(id, { ok: false, error: reason });
		cleanupAndExit();
	};
	for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => shutdown(`driver interrupted by ${sig}`, 1));

	try {
		await launch();
	} catch (e) {
		process.stderr.write(`[run] ${e?.stack ?? e}\n`);
		emit({ event: "ready", ok: false, error: `driver: ${errorText(e)}`, final: true });
		shutdown("browser launch failed", 1);
		return;
	}
	context.on("close", () => {
		if (!cleaning) shutdown("browser closed unexpectedly", 1);
	});
	emit({ event: "ready", ok: true, final: false });

	const lines = createInterface({ input: process.stdin });
	lines.on("line", (line) => {
		if (cleaning || !line.trim()) return;
		let raw;
		try {
			raw = JSON.parse(line);
		} catch (e) {
			process.stderr.write(`[run] ignoring a request that is not JSON: ${line}\n`);
			return;
		}
		if (typeof raw.stop === "string") {
			jobs.get(raw.stop)?.stop();
			return;
		}
		const id = String(raw.id ?? "");
		if (!id || jobs.has(id)) {
			emit({ id, event: "result", final: true, ok: false, error: "request needs an id not in use" });
			return;
		}
		const [req, bad] = checkRequest(raw);
		const job = newJob();
		jobs.set(id, job);
		if (bad) {
			finish(id, { ok: false, error: bad });
			return;
		}
		runPage(req, job, (ev) => jobs.has(id) && emit({ ...ev, id, final: false }), `[${id}] `).then(
			(result) => finish(id, result),
			(e) => {
				process.stderr.write(`[${id}] [run] ${e?.stack ?? e}\n`);
				finish(id, { ok: false, error: `driver: ${errorText(e)}` });
			},
		);
	});
	lines.on("close", () => shutdown("driver closing: stdin ended", 0));
}

if (opt.serve) serve();
else single();
