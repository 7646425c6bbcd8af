package reproduce

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latentlab/latent/paperbench/sandbox"
	"github.com/latentlab/latent/paperbench/sandbox/local"
	"github.com/latentlab/latent/paperbench/sandbox/sandboxtest"
)

func provider(t *testing.T) sandbox.Provider {
	p, err := local.New(t.TempDir())
	if err != nil {
		t.Fatalf("%v (CI must install bubblewrap)", err)
	}
	return p
}

func write(t *testing.T, dir, name, body string) {
	p := filepath.Join(dir, name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readRecord(t *testing.T, out string) Record {
	b, err := os.ReadFile(filepath.Join(out, "reproduction.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestHostile runs a reproduce.sh that tries to read a host file, write outside /submission,
// reach a host 127.0.0.1 listener and outlive its timeout, and checks each is contained.
func TestHostile(t *testing.T) {
	secretDir := t.TempDir()
	write(t, secretDir, "secret", "TOPSECRET")
	port, accepted := sandboxtest.HostListener(t)
	marker := fmt.Sprint(time.Now().UnixNano() % 100000)
	sub := t.TempDir()
	write(t, sub, "keep.txt", "same")
	write(t, sub, "edit.txt", "old")
	write(t, sub, "reproduce.sh", fmt.Sprintf(`
cat %s/secret && echo READ-HOST
echo x > %s/pwned && echo WROTE-HOST
echo x > /etc/pwned && echo WROTE-ETC
(echo > /dev/tcp/127.0.0.1/%d) && echo CONNECTED
echo new > edit.txt
head -c 3000 /dev/zero > big.bin
echo made > made.txt
(setsid sleep 9%s &)
sleep 60
`, secretDir, secretDir, port, marker))
	out := t.TempDir()
	rec, err := Run(context.Background(), Options{Submission: sub, Out: out, Provider: provider(t), Timeout: 3 * time.Second, Retries: 1, MaxFile: 2000})
	if err != nil {
		t.Fatal(err)
	}
	log, _ := os.ReadFile(filepath.Join(out, "reproduce.log"))
	for _, bad := range []string{"TOPSECRET", "READ-HOST", "WROTE-HOST", "WROTE-ETC", "CONNECTED"} {
		if strings.Contains(string(log), bad) {
			t.Errorf("log shows %s:\n%s", bad, log)
		}
	}
	if _, err := os.Stat(filepath.Join(secretDir, "pwned")); err == nil {
		t.Error("wrote a host file")
	}
	if accepted.Load() != 0 {
		t.Error("host listener was reached")
	}
	if procWith("sleep 9" + marker) {
		t.Error("background process outlived the timeout")
	}
	if len(rec.Attempts) != 2 || !rec.Attempts[0].TimedOut || !rec.Attempts[1].TimedOut {
		t.Fatalf("attempts %+v: want 2 timed out", rec.Attempts)
	}
	states := map[string]File{}
	for _, f := range readRecord(t, out).Manifest {
		states[f.Path] = f
	}
	for p, want := range map[string]string{"keep.txt": "unchanged", "edit.txt": "changed", "made.txt": "created", "reproduce.log": "created", "reproduce.log.creation_time": "created"} {
		if states[p].State != want {
			t.Errorf("%s: state %q, want %q", p, states[p].State, want)
		}
	}
	if big := states["big.bin"]; big.Kept || big.Size != 3000 || big.SHA256 == "" || len(big.Head) != headSample {
		t.Errorf("big file entry %+v", big)
	}
	if _, err := os.Stat(filepath.Join(out, "submission_executed", "big.bin")); err == nil {
		t.Error("file over the cap was copied")
	}
}

func procWith(s string) bool {
	ms, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, m := range ms {
		b, _ := os.ReadFile(m)
		if strings.Contains(strings.ReplaceAll(string(b), "\x00", " "), s) {
			return true
		}
	}
	return false
}

// attemptEnv passes the attempt number to reproduce.sh as $ATTEMPT so a script can behave
// differently per attempt (each attempt otherwise starts from the same fresh copy).
type attemptEnv struct{ sandbox.Provider }

func (p attemptEnv) Create(ctx context.Context, s sandbox.Spec) (sandbox.Sandbox, error) {
	s.Env = map[string]string{"ATTEMPT": s.Labels["attempt"]}
	return p.Provider.Create(ctx, s)
}

func TestRetries(t *testing.T) {
	cases := []struct {
		name, script   string
		attempts, kept int
	}{
		{"success-not-retried", "echo ok\n", 1, 1},
		{"retry-until-success", "echo run $ATTEMPT; [ $ATTEMPT -ge 2 ]\n", 2, 2},
		{"best-not-last", "[ $ATTEMPT = 1 ] && seq 1000; exit 1\n", 3, 1},
	}
	p := attemptEnv{provider(t)}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sub := t.TempDir()
			write(t, sub, "reproduce.sh", c.script)
			rec, err := Run(context.Background(), Options{Submission: sub, Out: t.TempDir(), Provider: p, Timeout: 20 * time.Second, Retries: 2})
			if err != nil {
				t.Fatal(err)
			}
			if len(rec.Attempts) != c.attempts || rec.Kept != c.kept {
				t.Fatalf("%d attempts, kept %d; want %d, %d: %+v", len(rec.Attempts), rec.Kept, c.attempts, c.kept, rec.Attempts)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	p := provider(t)
	empty := t.TempDir()
	garbage := filepath.Join(t.TempDir(), "sub.tar")
	os.WriteFile(garbage, []byte("not a tar at all, not a tar at all, not a tar at all"), 0o644)
	for src, want := range map[string]string{
		empty:             "no reproduce.sh",
		garbage:           "neither a folder nor a readable tar",
		"/does/not/exist": "/does/not/exist",
	} {
		_, err := Run(context.Background(), Options{Submission: src, Out: t.TempDir(), Provider: p})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", src, err, want)
		}
	}
}
