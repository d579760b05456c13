package web_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testPattern is the broadcast the ffmpeg test pattern is published as; the
// .hang suffix makes @moq/watch read its catalog in the hang format.
const testPattern = "testpattern.hang"

// ffmpegTestPattern is the ffmpeg command line (after "ffmpeg") that writes
// a moving test pattern as H.264 Annex-B to stdout, in real time, for at most
// limit: README.md's command, smaller and faster to encode.
func ffmpegTestPattern(limit time.Duration) []string {
	return []string{"-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-t", fmt.Sprint(int(limit.Seconds())),
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-bf", "0", "-pix_fmt", "yuv420p",
		"-bsf:v", "h264_metadata=aud=insert", "-f", "h264", "-"}
}

// TestBrowserVideo runs a root and two leaves and, in one headless Chromium
// with a fake camera, the watch and publish pages (video.mjs) served by the
// serve program:
//
//   - ffmpeg: the ffmpeg test pattern, published on leaf a by moq pub
//     --media -, plays on leaf b's watch page;
//   - camera: the publish page's fake camera, published on a, plays on b;
//   - list: b's watch page lists the clock, published on a.
//
// Playing means the canvas is not one flat colour and its pixels change
// over 2 s: two screenshots, kept in a directory the log names
// (MOQ_WEB_ARTIFACTS, or a new one under $TMPDIR).
func TestBrowserVideo(t *testing.T) {
	requireHarness(t)
	_, err := exec.LookPath("ffmpeg")
	haveFFmpeg := err == nil
	if !haveFFmpeg && os.Getenv("CI") == "true" {
		t.Fatal("ffmpeg not in PATH (CI=true: the test pattern test must run; apt-get install ffmpeg)")
	}
	c := startCluster(t)
	startClock(t, c.a, 500*time.Millisecond)

	type watchSpec struct {
		URL  string `json:"url"`
		Name string `json:"name"`
	}
	type listSpec struct {
		URL    string `json:"url"`
		Expect string `json:"expect"`
	}
	type videoCase struct {
		Name    string     `json:"name"`
		Publish *watchSpec `json:"publish,omitempty"`
		Watch   *watchSpec `json:"watch,omitempty"`
		List    *listSpec  `json:"list,omitempty"`
	}
	cases := []videoCase{
		{Name: "camera", Publish: &watchSpec{c.a.url(), "camera.hang"}, Watch: &watchSpec{c.b.url(), "camera.hang"}},
		{Name: "list", List: &listSpec{c.b.url(), "clock"}},
	}
	if haveFFmpeg {
		startTestPattern(t, c.a)
		cases = append(cases, videoCase{Name: "ffmpeg", Watch: &watchSpec{c.b.url(), testPattern}})
	}

	dir := os.Getenv("MOQ_WEB_ARTIFACTS")
	if dir == "" {
		if dir, err = os.MkdirTemp("", "moq-web-video-"); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots (test artifacts) in %s", dir)
	origin := startServe(t)

	spec, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "video.mjs", "--origin", origin, "--out", dir, "--timeout", "40000", "--cases", string(spec))
	stderr := &lineLog{}
	cmd.Stderr = stderr
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node video.mjs: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.tail(200))
	}
	t.Logf("video.mjs ran the %d cases in %v", len(cases), time.Since(start).Round(time.Millisecond))
	results := map[string]videoResult{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r videoResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("video.mjs printed %q: %v", line, err)
		}
		if r.Case != "" {
			results[r.Case] = r
		}
	}
	pageLog := func(name string) string {
		return "\nvideo.mjs stderr for " + name + ":\n" + stderr.filter(func(l logLine) bool { return strings.HasPrefix(l.raw, "["+name+"/") }, 80)
	}
	for _, vc := range []string{"ffmpeg", "camera", "list"} {
		t.Run(vc, func(t *testing.T) {
			r, ok := results[vc]
			if vc == "ffmpeg" && !haveFFmpeg {
				t.Skip("NOTICE: ffmpeg not in PATH: the test pattern is not tested (apt-get install ffmpeg)")
			}
			if !ok {
				t.Fatalf("video.mjs gave no result for %s%s", vc, pageLog(vc))
			}
			if !r.OK {
				t.Fatalf("%s: %s%s", vc, r.Error, pageLog(vc))
			}
			if vc == "list" {
				t.Logf("b's watch page listed the clock (published on a) %d ms after opening; list %q", r.ListedMs, r.Listed)
				return
			}
			checkMoving(t, r)
		})
	}
}

// videoResult is one case's line from video.mjs.
type videoResult struct {
	Case         string   `json:"case"`
	OK           bool     `json:"ok"`
	Error        string   `json:"error"`
	FirstFrameMs int      `json:"firstFrameMs"`
	ListedMs     int      `json:"listedMs"`
	Listed       []string `json:"listed"`
	Shots        []string `json:"shots"`
	Stats        []struct {
		Width  int    `json:"width"`
		Height int    `json:"height"`
		Hash   string `json:"hash"`
	} `json:"stats"`
}

// checkMoving asserts on the two canvas screenshots, 2 s apart: each shows
// something (not one flat colour) and their pixels differ.
func checkMoving(t *testing.T, r videoResult) {
	t.Helper()
	if len(r.Shots) < 2 {
		t.Fatalf("%d screenshots, want 2", len(r.Shots))
	}
	var imgs [2]image.Image
	var hashes [2]string
	for i := range imgs {
		imgs[i] = readPNG(t, r.Shots[i])
		hashes[i] = pixelHash(imgs[i])
		if spread := colourSpread(imgs[i]); spread < 8 {
			t.Errorf("screenshot %s is blank (channel spread %d)", r.Shots[i], spread)
		}
	}
	if hashes[0] == hashes[1] {
		t.Errorf("the canvas did not change over 2 s: %s and %s have the same pixels (sha256 %s)", r.Shots[0], r.Shots[1], hashes[0])
	}
	size := ""
	if len(r.Stats) > 0 {
		size = fmt.Sprintf("%dx%d", r.Stats[0].Width, r.Stats[0].Height)
	}
	t.Logf("first frame on b's canvas %d ms after the watch page opened (video %s), listed after %d ms; screenshots 2 s apart: sha256 %s vs %s, %.1f%% of pixels differ",
		r.FirstFrameMs, size, r.ListedMs, hashes[0][:12], hashes[1][:12], 100*changedFraction(imgs[0], imgs[1]))
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return img
}

// pixelHash is the sha256 of the image's RGBA pixels, row by row.
func pixelHash(img image.Image) string {
	h := sha256.New()
	b := img.Bounds()
	var px [8]byte
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			px = [8]byte{byte(r >> 8), byte(r), byte(g >> 8), byte(g), byte(bl >> 8), byte(bl), byte(a >> 8), byte(a)}
			h.Write(px[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// colourSpread is the largest difference between two channel values (8 bit)
// anywhere in the image: 0 for one flat colour.
func colourSpread(img image.Image) int {
	lo, hi := 255, 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			for _, v := range []int{int(r >> 8), int(g >> 8), int(bl >> 8)} {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	return max(hi-lo, 0)
}

// changedFraction is the share of pixels that differ between a and b.
func changedFraction(a, b image.Image) float64 {
	bounds := a.Bounds().Intersect(b.Bounds())
	changed, total := 0, 0
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			total++
			if a.At(x, y) != b.At(x, y) {
				changed++
			}
		}
	}
	if total == 0 {
		return 0
	}
	return float64(changed) / float64(total)
}

// startTestPattern publishes the ffmpeg test pattern on r as the README says:
// ffmpeg ... | moq pub --media - URL testpattern.hang. Both stop when the
// test ends.
func startTestPattern(t *testing.T, r *relayProc) {
	t.Helper()
	binaries(t)
	ffmpeg := exec.Command("ffmpeg", ffmpegTestPattern(5*time.Minute)...)
	pub := exec.Command(bins.moq, mediaPubArgs(r.url(), testPattern)...)
	// The pipe's ends live only in the two processes, so either one's exit
	// ends the other (EOF, or EPIPE for ffmpeg).
	read, write, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	ffmpeg.Stdout, pub.Stdin = write, read
	ffmpegOut, pubOut := &lineLog{}, &lineLog{}
	ffmpeg.Stderr = ffmpegOut
	pub.Stdout, pub.Stderr = pubOut, pubOut
	errFFmpeg := ffmpeg.Start()
	errPub := pub.Start()
	_ = read.Close()
	_ = write.Close()
	if errFFmpeg != nil || errPub != nil {
		for _, c := range []*exec.Cmd{ffmpeg, pub} {
			if c.Process != nil {
				_ = c.Process.Kill()
				_ = c.Wait()
			}
		}
		t.Fatalf("start ffmpeg | moq pub: %v, %v", errFFmpeg, errPub)
	}
	t.Logf("ffmpeg %s | moq %s", strings.Join(ffmpeg.Args[1:], " "), strings.Join(pub.Args[1:], " "))
	pubDone := make(chan error, 1)
	go func() { pubDone <- pub.Wait() }()
	t.Cleanup(func() {
		_ = pub.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-pubDone:
			if err != nil {
				t.Errorf("moq pub --media exited with %v after SIGTERM (want 0); output:\n%s", err, pubOut.tail(40))
			}
		case <-time.After(10 * time.Second):
			_ = pub.Process.Kill()
			<-pubDone
			t.Errorf("moq pub --media did not exit within 10 s of SIGTERM; output:\n%s", pubOut.tail(40))
		}
		// ffmpeg ends on the broken pipe (or SIGKILL); its status says nothing here.
		ffmpegDone := make(chan struct{})
		go func() {
			_ = ffmpeg.Wait()
			close(ffmpegDone)
		}()
		select {
		case <-ffmpegDone:
		case <-time.After(5 * time.Second):
			_ = ffmpeg.Process.Kill()
			<-ffmpegDone
		}
		if t.Failed() {
			t.Logf("moq pub --media output:\n%s\nffmpeg stderr:\n%s", pubOut.tail(40), ffmpegOut.tail(20))
		}
	})
}

// mediaPubArgs is the moq command line that publishes an H.264 Annex-B
// stream read from stdin as a hang broadcast.
func mediaPubArgs(url, broadcast string) []string {
	return []string{"pub", "--media", "-", url, broadcast}
}

var serveAddr = regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+`)

// startServe runs the serve program on an ephemeral loopback port and
// returns its origin; it is stopped with SIGTERM (exit 0) when the test ends.
func startServe(t *testing.T) string {
	t.Helper()
	binaries(t)
	cmd := exec.Command(bins.serve, "--bind", "127.0.0.1:0", "--dir", ".")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lineLog{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start serve: %v", err)
	}
	done := make(chan error, 1)
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve exited with %v after SIGTERM (want 0); stderr:\n%s", err, stderr.tail(20))
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("serve did not exit within 10 s of SIGTERM")
		}
	})
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		line := ""
		if sc.Scan() {
			line = sc.Text()
		}
		first <- line
		_, _ = io.Copy(io.Discard, stdout)
		done <- cmd.Wait()
	}()
	select {
	case line := <-first:
		origin := serveAddr.FindString(line)
		if origin == "" {
			t.Fatalf("serve printed %q, want its http://127.0.0.1:PORT/; stderr:\n%s", line, stderr.tail(20))
		}
		t.Logf("serve: %s", line)
		return origin
	case <-time.After(15 * time.Second):
		t.Fatalf("serve printed nothing within 15 s; stderr:\n%s", stderr.tail(20))
		return ""
	}
}
