package kubernetes_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	remotecommandconsts "k8s.io/apimachinery/pkg/util/remotecommand"
	clientset "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/streaming/pkg/httpstream/wsstream"

	"github.com/latentlab/latent/paperbench/sandbox/kubernetes"
	"github.com/latentlab/latent/paperbench/sandbox/sandboxtest"
)

// execServer is a pods/exec endpoint that speaks the v5 WebSocket protocol through the server
// half of Kubernetes' own streaming library (k8s.io/streaming's wsstream) and runs each
// command in a bubblewrap pod of rt, reporting the exit code the way the kubelet does (a
// Status on the error channel). It lets APIExecutor, client-go's WebSocket executor, run for
// real without a cluster; what stands in for the API server and kubelet is this handler.
func execServer(t *testing.T, rt *bwrapRuntime) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// /api/v1/namespaces/NS/pods/POD/exec
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		if len(parts) != 7 || parts[0] != "api" || parts[2] != "namespaces" || parts[4] != "pods" || parts[6] != "exec" {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{remotecommandconsts.StreamProtocolV5Name: {Binary: true,
			Channels: []wsstream.ChannelType{wsstream.ReadChannel, wsstream.WriteChannel, wsstream.WriteChannel, wsstream.WriteChannel, wsstream.IgnoreChannel}}})
		_, ch, err := conn.Open(w, r)
		if err != nil {
			t.Logf("exec server: %v", err)
			return
		}
		defer conn.Close()
		var stdin io.Reader
		if q.Get("stdin") == "true" {
			stdin = ch[0]
		}
		ref := kubernetes.PodRef{Namespace: parts[3], Pod: parts[5], Container: q.Get("container")}
		code, err := rt.Exec(context.Background(), ref, q["command"], kubernetes.Streams{Stdin: stdin, Stdout: ch[1], Stderr: ch[2]})
		json.NewEncoder(ch[3]).Encode(execStatus(code, err))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// execStatus is the Status the kubelet ends an exec with.
func execStatus(code int, err error) metav1.Status {
	switch {
	case err != nil:
		return metav1.Status{Status: metav1.StatusFailure, Message: err.Error()}
	case code != 0:
		return metav1.Status{Status: metav1.StatusFailure, Reason: remotecommandconsts.NonZeroExitCodeReason,
			Message: fmt.Sprintf("command terminated with non-zero exit code: %d", code),
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: remotecommandconsts.ExitCodeCauseType, Message: strconv.Itoa(code)}}}}
	}
	return metav1.Status{Status: metav1.StatusSuccess}
}

// TestConformanceFakeAPIWebSocketExec runs the whole suite with the API calls against the
// fake clientset and every exec and tar through APIExecutor (client-go's WebSocket executor,
// protocol v5) to execServer, which runs them in bubblewrap pods.
func TestConformanceFakeAPIWebSocketExec(t *testing.T) {
	c, rt := bwrapCluster(t)
	cfg := &rest.Config{Host: execServer(t, rt).URL}
	real, err := clientset.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := kubernetes.NewForClient(c, kubernetes.APIExecutor(cfg, real), kubernetes.Options{Namespace: testNamespace})
	sandboxtest.Run(t, withImage{p, "fake-image:1"})
}
