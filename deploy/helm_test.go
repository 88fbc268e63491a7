package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/internal/wire"
)

const chart = "deploy/helm/sluice"

// Parts of the rendered manifests the tests read.
type (
	object struct {
		Kind     string `yaml:"kind"`
		Metadata struct {
			Name   string            `yaml:"name"`
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
	}
	secretObj struct {
		StringData map[string]string `yaml:"stringData"`
	}
	serviceObj struct {
		Spec struct {
			Selector  map[string]string `yaml:"selector"`
			ClusterIP string            `yaml:"clusterIP"`
			Ports     []struct {
				Name       string `yaml:"name"`
				Port       int    `yaml:"port"`
				TargetPort string `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
	probe struct {
		HTTPGet struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
	}
	envVar struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom struct {
			SecretKeyRef struct{ Name, Key string } `yaml:"secretKeyRef"`
			FieldRef     struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
		} `yaml:"valueFrom"`
	}
	container struct {
		Name  string   `yaml:"name"`
		Image string   `yaml:"image"`
		Args  []string `yaml:"args"`
		Env   []envVar `yaml:"env"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		StartupProbe   *probe `yaml:"startupProbe"`
		LivenessProbe  *probe `yaml:"livenessProbe"`
		ReadinessProbe *probe `yaml:"readinessProbe"`
		VolumeMounts   []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	}
	workloadObj struct {
		Spec struct {
			Replicas    *int   `yaml:"replicas"`
			ServiceName string `yaml:"serviceName"`
			Selector    struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Template struct {
				Metadata struct {
					Labels map[string]string `yaml:"labels"`
				} `yaml:"metadata"`
				Spec struct {
					Containers []container `yaml:"containers"`
					Volumes    []struct {
						Name   string `yaml:"name"`
						Secret *struct {
							SecretName string `yaml:"secretName"`
							Items      []struct{ Key, Path string }
						} `yaml:"secret"`
						EmptyDir any `yaml:"emptyDir"`
					} `yaml:"volumes"`
				} `yaml:"spec"`
			} `yaml:"template"`
			VolumeClaimTemplates []object `yaml:"volumeClaimTemplates"`
		} `yaml:"spec"`
	}
	scaledObj struct {
		Spec struct {
			ScaleTargetRef struct {
				APIVersion string `yaml:"apiVersion"`
				Kind       string `yaml:"kind"`
				Name       string `yaml:"name"`
			} `yaml:"scaleTargetRef"`
			MinReplicaCount int `yaml:"minReplicaCount"`
			MaxReplicaCount int `yaml:"maxReplicaCount"`
			Triggers        []struct {
				Type              string            `yaml:"type"`
				Metadata          map[string]string `yaml:"metadata"`
				AuthenticationRef struct {
					Name string `yaml:"name"`
				} `yaml:"authenticationRef"`
			} `yaml:"triggers"`
		} `yaml:"spec"`
	}
	triggerAuthObj struct {
		Spec struct {
			SecretTargetRef []struct{ Parameter, Name, Key string } `yaml:"secretTargetRef"`
		} `yaml:"spec"`
	}
)

// manifests are rendered objects by kind and name, as raw YAML documents.
type manifests map[string]map[string][]byte

func (m manifests) get(t *testing.T, kind, name string, v any) {
	t.Helper()
	doc, ok := m[kind][name]
	if !ok {
		t.Fatalf("no %s %q rendered (have %v)", kind, name, slices.Sorted(maps.Keys(m[kind])))
	}
	if err := yaml.Unmarshal(doc, v); err != nil {
		t.Fatalf("%s %s: %v", kind, name, err)
	}
}

// render runs helm template and splits its output by kind and name.
func render(t *testing.T, helm string, args ...string) manifests {
	t.Helper()
	out := run(t, "", nil, helm, append([]string{"template", "rel", chart, "--namespace", "ns"}, args...)...)
	m := manifests{}
	for doc := range strings.SplitSeq(out, "\n---") {
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("rendered document does not parse: %v\n%s", err, doc)
		}
		if o.Kind == "" {
			continue
		}
		if m[o.Kind] == nil {
			m[o.Kind] = map[string][]byte{}
		}
		if _, dup := m[o.Kind][o.Metadata.Name]; dup {
			t.Errorf("%s %s rendered twice", o.Kind, o.Metadata.Name)
		}
		m[o.Kind][o.Metadata.Name] = []byte(doc)
	}
	return m
}

func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

func envOf(c container) map[string]envVar {
	m := map[string]envVar{}
	for _, e := range c.Env {
		m[e.Name] = e
	}
	return m
}

// TestHelmLint lints the chart with its defaults, the CI values and
// external mode, and checks that bad values are refused with a message.
func TestHelmLint(t *testing.T) {
	helm := testutil.NeedBinary(t, "helm", filepath.Join(repoRoot, ".bin", "helm"))
	run(t, "", nil, helm, "lint", "--strict", chart)
	run(t, "", nil, helm, "lint", "--strict", chart, "-f", chart+"/ci-values.yaml")
	run(t, "", nil, helm, "lint", "--strict", chart, "-f", chart+"/ci-values.yaml", "--set", "mode=external,nats.url=nats://nats:4222")
	for _, c := range []struct{ set, want string }{
		{"mode=cluster", `mode: "cluster" is not embedded or external`},
		{"mode=external", "nats.url: external mode needs"},
		{"endpoints[0].id=a,endpoints[0].command[0]=./w", "endpoints[a].command"},
		{"endpoints[0].id=a,endpoints[0].worker.env.X=1", "endpoints[a].worker.image is required"},
	} {
		cmd := exec.Command(helm, "template", "rel", chart, "--set", c.set)
		cmd.Dir = repoRoot
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("helm template --set %s: %v, output lacks %q:\n%s", c.set, err, c.want, out)
		}
	}
}

// TestHelmExternalMode: replicas on an external NATS are a Deployment with
// --nats-url, an emptyDir for /data and no governing Service.
func TestHelmExternalMode(t *testing.T) {
	helm := testutil.NeedBinary(t, "helm", filepath.Join(repoRoot, ".bin", "helm"))
	m := render(t, helm, "-f", chart+"/ci-values.yaml", "--set", "mode=external,replicas=3,nats.url=nats://a:4222\\,nats://b:4222")
	if len(m["StatefulSet"]) != 0 || m["Service"]["rel-sluice-headless"] != nil {
		t.Errorf("external mode rendered a StatefulSet or a headless Service")
	}
	var d workloadObj
	m.get(t, "Deployment", "rel-sluice", &d)
	c := d.Spec.Template.Spec.Containers[0]
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 || !slices.Contains(c.Args, "--nats-url=nats://a:4222,nats://b:4222") {
		t.Errorf("server Deployment: replicas %v, args %v", d.Spec.Replicas, c.Args)
	}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "data" && v.EmptyDir == nil {
			t.Errorf("external mode: /data is not an emptyDir")
		}
	}
}

// TestHelmWiring renders the chart with the CI values and checks the
// wiring by running it: a real `sluice serve` gets the rendered config and
// keys, answers the rendered probes, answers KEDA's trigger URL with a
// number at valueLocation, and runs a job on a real Go worker started with
// the rendered worker environment (the Service host mapped to loopback).
func TestHelmWiring(t *testing.T) {
	helm := testutil.NeedBinary(t, "helm", filepath.Join(repoRoot, ".bin", "helm"))
	m := render(t, helm, "-f", chart+"/ci-values.yaml")

	var secret secretObj
	m.get(t, "Secret", "rel-sluice", &secret)
	cfg, err := config.Parse([]byte(secret.StringData["sluice.yaml"]), "sluice.yaml")
	if err != nil {
		t.Fatalf("rendered sluice.yaml: %v", err)
	}
	if cfg.WorkerKey != secret.StringData["worker-key"] || cfg.WorkerKey == "" || cfg.PingIntervalMs != 4000 || cfg.MaxRetries != 3 {
		t.Errorf("rendered config: workerKey %q (secret %q), pingIntervalMs %d, maxRetries %d", cfg.WorkerKey, secret.StringData["worker-key"], cfg.PingIntervalMs, cfg.MaxRetries)
	}
	if ep := cfg.Endpoint("echo"); ep == nil || ep.ExecutionTimeoutMs != 3600000 || len(ep.Command) != 0 || len(cfg.Endpoints) != 3 {
		t.Errorf("rendered endpoints: %+v", cfg.Endpoints)
	}

	// The server StatefulSet and its Service.
	var sts workloadObj
	m.get(t, "StatefulSet", "rel-sluice", &sts)
	var svc, headless serviceObj
	m.get(t, "Service", "rel-sluice", &svc)
	m.get(t, "Service", "rel-sluice-headless", &headless)
	tpl := sts.Spec.Template
	if !subset(sts.Spec.Selector.MatchLabels, tpl.Metadata.Labels) || !subset(svc.Spec.Selector, tpl.Metadata.Labels) ||
		sts.Spec.ServiceName != "rel-sluice-headless" || headless.Spec.ClusterIP != "None" || *sts.Spec.Replicas != 1 {
		t.Errorf("server selectors: statefulset %v, service %v, pod labels %v, serviceName %q", sts.Spec.Selector.MatchLabels, svc.Spec.Selector, tpl.Metadata.Labels, sts.Spec.ServiceName)
	}
	c := tpl.Spec.Containers[0]
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort != "http" {
		t.Errorf("ports: container %+v, service %+v", c.Ports, svc.Spec.Ports)
	}
	for name, p := range map[string]*probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet.Port != "http" {
			t.Errorf("%s probe %+v is not an HTTP GET on port http", name, p)
		}
	}
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probes: liveness %s, readiness %s", c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path)
	}
	args := map[string]string{}
	for _, a := range c.Args[1:] {
		k, v, _ := strings.Cut(a, "=")
		args[k] = v
	}
	mounts := map[string]string{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.MountPath] = vm.Name
	}
	cfgVol := mounts[path.Dir(args["--config"])]
	for _, v := range tpl.Spec.Volumes {
		if v.Name == cfgVol && (v.Secret == nil || v.Secret.SecretName != "rel-sluice" || v.Secret.Items[0].Key != "sluice.yaml" || v.Secret.Items[0].Path != path.Base(args["--config"])) {
			t.Errorf("--config %s is not the Secret's sluice.yaml: %+v", args["--config"], v.Secret)
		}
	}
	if len(sts.Spec.VolumeClaimTemplates) != 1 || mounts[args["--data-dir"]] != sts.Spec.VolumeClaimTemplates[0].Metadata.Name {
		t.Errorf("--data-dir %s is not on the PersistentVolumeClaim (mounts %v)", args["--data-dir"], mounts)
	}
	if k := envOf(c)[server.EnvAPIKeys].ValueFrom.SecretKeyRef; k.Name != "rel-sluice" || secret.StringData[k.Key] == "" {
		t.Errorf("%s comes from %+v", server.EnvAPIKeys, k)
	}

	// Run the server as the pod would: rendered config, keys from the Secret.
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(cfgPath, []byte(secret.StringData["sluice.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(server.EnvAPIKeys, secret.StringData["api-keys"])
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- server.Serve(ctx, server.Options{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"), ConfigPath: cfgPath,
			Ready: func(a string) { ready <- a }})
	}()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-served:
		served <- err
		t.Fatalf("Serve with the rendered config: %v", err)
	}
	for _, p := range []*probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
		if code, body := get(addr, p.HTTPGet.Path, ""); code != http.StatusOK {
			t.Errorf("probe %s: %d %s", p.HTTPGet.Path, code, body)
		}
	}
	serviceHost := "rel-sluice.ns.svc:" + strconv.Itoa(svc.Spec.Ports[0].Port)

	// KEDA: a ScaledObject per endpoint with a worker, aimed at its Deployment.
	var auth triggerAuthObj
	m.get(t, "TriggerAuthentication", "rel-sluice-keda", &auth)
	if len(auth.Spec.SecretTargetRef) != 1 || auth.Spec.SecretTargetRef[0].Parameter != "token" || auth.Spec.SecretTargetRef[0].Name != "rel-sluice" {
		t.Fatalf("TriggerAuthentication: %+v", auth.Spec)
	}
	kedaKey := secret.StringData[auth.Spec.SecretTargetRef[0].Key]
	if len(m["ScaledObject"]) != 2 || len(m["Deployment"]) != 2 {
		t.Errorf("want a worker Deployment and a ScaledObject for echo and sd only: %v, %v", slices.Sorted(maps.Keys(m["Deployment"])), slices.Sorted(maps.Keys(m["ScaledObject"])))
	}
	for _, ep := range []string{"echo", "sd"} {
		name := "rel-sluice-worker-" + ep
		var so scaledObj
		m.get(t, "ScaledObject", name, &so)
		var dep workloadObj
		m.get(t, "Deployment", name, &dep)
		if ref := so.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || ref.Name != name || dep.Spec.Replicas != nil {
			t.Errorf("%s: scaleTargetRef %+v; the Deployment must leave replicas to KEDA (%v)", ep, ref, dep.Spec.Replicas)
		}
		if so.Spec.MinReplicaCount != 0 {
			t.Errorf("%s: minReplicaCount %d, want 0 (scale from zero)", ep, so.Spec.MinReplicaCount)
		}
		var locations []string
		for _, tr := range so.Spec.Triggers {
			u, err := url.Parse(tr.Metadata["url"])
			if tr.Type != "metrics-api" || err != nil || u.Host != serviceHost || u.Path != "/v2/"+ep+"/health" ||
				tr.Metadata["authMode"] != "bearer" || tr.AuthenticationRef.Name != "rel-sluice-keda" {
				t.Errorf("%s: trigger %+v", ep, tr)
				continue
			}
			code, body := get(addr, u.Path, kedaKey)
			if code != http.StatusOK {
				t.Errorf("%s: KEDA's GET %s with its key: %d %s", ep, u.Path, code, body)
				continue
			}
			if _, err := numberAt([]byte(body), tr.Metadata["valueLocation"]); err != nil {
				t.Errorf("%s: valueLocation %s in %s: %v", ep, tr.Metadata["valueLocation"], body, err)
			}
			locations = append(locations, tr.Metadata["valueLocation"])
		}
		if !slices.Equal(locations, []string{"jobs.inQueue", "jobs.inProgress"}) {
			t.Errorf("%s: triggers on %v, want jobs.inQueue and jobs.inProgress", ep, locations)
		}
		if !subset(dep.Spec.Selector.MatchLabels, dep.Spec.Template.Metadata.Labels) || subset(svc.Spec.Selector, dep.Spec.Template.Metadata.Labels) {
			t.Errorf("%s: worker selector %v vs pod labels %v (the Service must not select workers)", ep, dep.Spec.Selector.MatchLabels, dep.Spec.Template.Metadata.Labels)
		}
	}

	// The echo worker's environment is `sluice worker-env`'s, with the key
	// from the Secret and the pod name as worker id.
	var dep workloadObj
	m.get(t, "Deployment", "rel-sluice-worker-echo", &dep)
	wc := dep.Spec.Template.Spec.Containers[0]
	env := envOf(wc)
	if k := env["RUNPOD_AI_API_KEY"].ValueFrom.SecretKeyRef; k.Name != "rel-sluice" || secret.StringData[k.Key] != cfg.WorkerKey {
		t.Errorf("RUNPOD_AI_API_KEY from %+v is not the config's workerKey", k)
	}
	if env["RUNPOD_POD_ID"].ValueFrom.FieldRef.FieldPath != "metadata.name" || env["LOG_LEVEL"].Value != "debug" || wc.Image != "registry.example.com/echo-worker:1.0" {
		t.Errorf("worker: RUNPOD_POD_ID %+v, LOG_LEVEL %q, image %q", env["RUNPOD_POD_ID"], env["LOG_LEVEL"].Value, wc.Image)
	}
	want := wire.WorkerEnv{BaseURL: "http://" + serviceHost, Endpoint: "echo", Key: cfg.WorkerKey, WorkerID: "pod-1", PingIntervalMs: cfg.PingInterval().Milliseconds()}.Environ()
	var got []string
	for _, e := range wc.Env {
		switch e.Name {
		case "RUNPOD_AI_API_KEY":
			e.Value = secret.StringData[e.ValueFrom.SecretKeyRef.Key]
		case "RUNPOD_POD_ID":
			e.Value = "pod-1"
		case "LOG_LEVEL":
			continue
		}
		got = append(got, e.Name+"="+e.Value)
	}
	if !slices.Equal(sortedCopy(got), sortedCopy(want)) {
		t.Fatalf("echo worker env:\n%s\nwant (sluice worker-env):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	bin := filepath.Join(dir, "echo-worker")
	run(t, "", nil, "go", "build", "-o", bin, "./examples/basic")
	var workerEnv []string
	for _, kv := range got {
		workerEnv = append(workerEnv, strings.ReplaceAll(kv, serviceHost, addr))
	}
	runsyncOnWorker(t, bin, workerEnv, addr, "helm", "pod-1")
}

// numberAt reads the number at a dotted path (KEDA's valueLocation for
// simple paths) in a JSON document.
func numberAt(doc []byte, loc string) (float64, error) {
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return 0, err
	}
	for _, k := range strings.Split(loc, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return 0, fmt.Errorf("%s: not inside an object", k)
		}
		if v, ok = m[k]; !ok {
			return 0, fmt.Errorf("%s: missing", k)
		}
	}
	f, ok := v.(float64)
	if !ok {
		return 0, fmt.Errorf("%s: %v is not a number", loc, v)
	}
	return f, nil
}
