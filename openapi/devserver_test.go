package openapi_test

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

// devServer is a running `c2cauth dev` process.
type devServer struct {
	backendURL    string // such as http://127.0.0.1:41234, without a trailing slash
	emulatorURL   string
	clientID      string
	sipConnection string

	cmd        *exec.Cmd
	stderrPath string
	exited     chan struct{}
	waitErr    error
	stopOnce   sync.Once
}

// The lines of the start-up banner that name the URLs.
var (
	demoPageLine = regexp.MustCompile(`^\s*demo page\s+(http://\S+?)/?$`)
	emulatorLine = regexp.MustCompile(`^\s*Live Hub emulator\s+(http://\S+) \(client (\S+), SIP connection (\S+)\)$`)
)

// buildBinary builds ./cmd/c2cauth from the module root, which is the
// parent of this package's folder, and returns the binary's path.
func buildBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("find the go command: %v", err)
	}
	binary := filepath.Join(t.TempDir(), "c2cauth")
	build := exec.Command(goTool, "build", "-o", binary, "./cmd/c2cauth")
	build.Dir = ".."
	if output, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/c2cauth: %v\n%s", err, output)
	}
	return binary
}

// startDev runs `binary dev` on free loopback ports and returns once it has
// printed its URLs. The process is killed when the test ends unless stop
// ended it first.
func startDev(t *testing.T, binary string) *devServer {
	t.Helper()
	stderrPath := filepath.Join(t.TempDir(), "stderr.log")
	stderr, err := os.Create(stderrPath)
	if err != nil {
		t.Fatalf("create stderr log: %v", err)
	}
	defer stderr.Close()

	cmd := exec.Command(binary, "dev", "--listen", "127.0.0.1:0", "--emulator-listen", "127.0.0.1:0")
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("stdout pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start c2cauth dev: %v", err)
	}
	s := &devServer{cmd: cmd, stderrPath: stderrPath, exited: make(chan struct{})}

	banner := make(chan string, 64)
	go s.readStdout(stdout, banner)
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		if s.running() {
			cmd.Process.Kill()
			<-s.exited
		}
	})

	timeout := time.After(30 * time.Second)
	for s.backendURL == "" || s.emulatorURL == "" {
		select {
		case line, ok := <-banner:
			if !ok {
				<-s.exited
				t.Fatalf("c2cauth dev exited before printing its URLs: %v\n%s", s.waitErr, s.stderr())
			}
			if m := demoPageLine.FindStringSubmatch(line); m != nil {
				s.backendURL = m[1]
			}
			if m := emulatorLine.FindStringSubmatch(line); m != nil {
				s.emulatorURL, s.clientID, s.sipConnection = m[1], m[2], m[3]
			}
		case <-timeout:
			t.Fatalf("c2cauth dev printed no URLs within 30s\n%s", s.stderr())
		}
	}
	return s
}

// readStdout passes each line of stdout to lines until the banner is read,
// then drains the rest so the process never blocks on a full pipe.
func (s *devServer) readStdout(stdout io.Reader, lines chan<- string) {
	scanner := bufio.NewScanner(stdout)
	for scanner.Scan() {
		line := scanner.Text()
		if emulatorLine.MatchString(line) {
			lines <- line
			close(lines)
			io.Copy(io.Discard, stdout)
			return
		}
		lines <- line
	}
	close(lines)
}

func (s *devServer) running() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// stop interrupts the process as Ctrl-C does and checks that it exits
// with status 0 within 10 seconds.
func (s *devServer) stop(t *testing.T) {
	t.Helper()
	s.stopOnce.Do(func() {
		if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Errorf("interrupt c2cauth dev: %v", err)
			return
		}
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("c2cauth dev did not exit within 10s of SIGINT\n%s", s.stderr())
			return
		}
		if exitErr, ok := errors.AsType[*exec.ExitError](s.waitErr); ok {
			t.Errorf("c2cauth dev after SIGINT: got exit status %d, want 0\n%s", exitErr.ExitCode(), s.stderr())
		} else if s.waitErr != nil {
			t.Errorf("c2cauth dev after SIGINT: %v", s.waitErr)
		}
	})
}

// stderr returns the log the process wrote so far.
func (s *devServer) stderr() string {
	b, err := os.ReadFile(s.stderrPath)
	if err != nil {
		return "(stderr unreadable: " + err.Error() + ")"
	}
	return string(b)
}
