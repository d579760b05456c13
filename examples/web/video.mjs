#!/usr/bin/env node
// Drives watch.html and publish.html in headless Chromium (fake camera) for
// the video tests (video_test.go), or by hand:
//
//   node video.mjs --origin http://127.0.0.1:8080 --out /tmp/shots --cases '[
//     {"name":"ffmpeg","watch":{"url":"http://127.0.0.1:4445/","name":"testpattern.hang"}},
//     {"name":"camera","publish":{"url":"http://127.0.0.1:4444/","name":"cam.hang"},
//      "watch":{"url":"http://127.0.0.1:4445/","name":"cam.hang"}},
//     {"name":"list","list":{"url":"http://127.0.0.1:4445/","expect":"clock"}}]'
//
// --origin serves the pages (go run ./examples/web/serve). The cases run at
// once, each in its own tabs. A watch case waits for the canvas to show
// something (not one flat colour), then saves two screenshots of it 2 s
// apart as OUT/NAME-1.png and OUT/NAME-2.png, and one of the whole page as
// OUT/NAME-page.png; it also waits until the page lists the broadcast. A
// list case waits until the watch page lists `expect`.
//
// stdout: one JSON line per case, {"case","ok","error","firstFrameMs",
// "listedMs","stats":[..],"shots":[..]}, then {"event":"done"}. Page consoles
// go to stderr. Exit 0 unless the browser failed; the cases' outcome is in
// their lines.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values: opt } = parseArgs({
	options: {
		origin: { type: "string" },
		out: { type: "string" },
		cases: { type: "string" },
		timeout: { type: "string", default: "30000" },
	},
});
if (!opt.origin || !opt.out || !opt.cases) {
	process.stderr.write("usage: node video.mjs --origin URL --out DIR --cases JSON [--timeout MS]\n");
	process.exit(2);
}
const cases = JSON.parse(opt.cases);
const timeout = Number(opt.timeout);
mkdirSync(opt.out, { recursive: true });

const FLAGS = [
	"--headless",
	"--no-sandbox",
	"--disable-gpu",
	"--no-first-run",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
	"--use-fake-device-for-media-stream",
	"--use-fake-ui-for-media-stream",
	"--autoplay-policy=no-user-gesture-required",
];

const emit = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const userDataDir = mkdtempSync(join(tmpdir(), "moq-video-"));
let context;
let closing = false;
async function closeAndExit(code) {
	if (closing) return;
	closing = true;
	setTimeout(() => process.exit(code), 5000).unref();
	await context?.close().catch(() => {});
	rmSync(userDataDir, { recursive: true, force: true });
	process.exit(code);
}
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => closeAndExit(1));
// A hard bound on the whole run: every case's own deadline plus launch and close.
setTimeout(() => {
	process.stderr.write("[video] overall deadline exceeded\n");
	closeAndExit(1);
}, timeout + 40000).unref();

async function openPage(tag, path, params) {
	const page = await context.newPage();
	page.on("console", (msg) => process.stderr.write(`[${tag}] ${msg.type()}: ${msg.text()}\n`));
	page.on("pageerror", (err) => process.stderr.write(`[${tag}] uncaught: ${err.message}\n`));
	const url = `${opt.origin}/${path}?${new URLSearchParams(params)}`;
	process.stderr.write(`[${tag}] open ${url}\n`);
	await page.goto(url, { waitUntil: "load", timeout: 15000 });
	return page;
}

// until polls fn (in node) every 100 ms until it returns a truthy value or
// the deadline passes; returns that value or undefined.
async function until(deadline, fn) {
	while (Date.now() < deadline) {
		const v = await fn();
		if (v) return v;
		await sleep(100);
	}
	return undefined;
}

const listed = (page, name) => page.evaluate((n) => window.moqWatch?.broadcasts().includes(n), name);

async function runCase(c) {
	const deadline = Date.now() + timeout;
	const res = { case: c.name, ok: false };
	const pages = [];
	try {
		if (c.publish) {
			pages.push(await openPage(`${c.name}/publish`, "publish.html", { url: c.publish.url, name: c.publish.name, source: "camera", muted: "1" }));
		}
		if (c.watch) {
			const opened = Date.now();
			const page = await openPage(`${c.name}/watch`, "watch.html", { url: c.watch.url, name: c.watch.name });
			pages.push(page);
			const first = await until(deadline, async () => {
				const s = await page.evaluate(() => window.moqWatch?.canvasStats());
				return s && !s.blank && s;
			});
			if (!first) throw new Error(`the canvas stayed blank for ${timeout} ms`);
			res.firstFrameMs = Date.now() - opened;
			const canvas = page.locator("moq-watch canvas");
			res.shots = [join(opt.out, `${c.name}-1.png`), join(opt.out, `${c.name}-2.png`), join(opt.out, `${c.name}-page.png`)];
			res.stats = [await page.evaluate(() => window.moqWatch.canvasStats())];
			await canvas.screenshot({ path: res.shots[0] });
			await sleep(2000);
			res.stats.push(await page.evaluate(() => window.moqWatch.canvasStats()));
			await canvas.screenshot({ path: res.shots[1] });
			await page.screenshot({ path: res.shots[2] });
			if (!(await until(deadline, () => listed(page, c.watch.name)))) throw new Error(`the page never listed ${c.watch.name}`);
			res.listedMs = Date.now() - opened;
		}
		if (c.list) {
			const opened = Date.now();
			const page = await openPage(`${c.name}/list`, "watch.html", { url: c.list.url, autoplay: "0" });
			pages.push(page);
			// autoplay=0 leaves the listing off until the form is submitted.
			await page.click("button[type=submit]");
			if (!(await until(deadline, () => listed(page, c.list.expect)))) {
				throw new Error(`the page never listed ${c.list.expect} (it lists ${JSON.stringify(await page.evaluate(() => window.moqWatch?.broadcasts()))})`);
			}
			res.listedMs = Date.now() - opened;
			res.listed = await page.evaluate(() => window.moqWatch.broadcasts());
		}
		res.ok = true;
	} catch (e) {
		res.error = String(e?.message ?? e).split("\n")[0];
	}
	// Close the sessions first, so that the relays see them end now rather
	// than at their idle timeout (which would hold up a draining relay).
	for (const p of pages) await p.evaluate(() => (window.moqWatch ?? window.moqPublish)?.close()).catch(() => {});
	await sleep(300);
	for (const p of pages) await p.close().catch(() => {});
	return res;
}

try {
	const { chromium } = await import("playwright-core");
	context = await chromium.launchPersistentContext(userDataDir, {
		executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
		headless: true,
		args: FLAGS,
		viewport: { width: 800, height: 600 },
		handleSIGINT: false,
		handleSIGTERM: false,
		handleSIGHUP: false,
		timeout: 20000,
	});
	await context.grantPermissions(["camera", "microphone"]);
	emit({ event: "ready" });
	await Promise.all(cases.map(async (c) => emit(await runCase(c))));
	emit({ event: "done" });
	await closeAndExit(0);
} catch (e) {
	process.stderr.write(`[video] ${e?.stack ?? e}\n`);
	emit({ event: "done", error: String(e?.message ?? e).split("\n")[0] });
	await closeAndExit(1);
}
