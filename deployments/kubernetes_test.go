package deployments_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

const k8sDir = "deployments/kubernetes"

// k8sObject holds the fields of every kind these manifests use; each kind
// fills its own.
type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`       // ConfigMap
	StringData map[string]string `yaml:"stringData"` // Secret
	Resources  []string          `yaml:"resources"`  // Kustomization
	Spec       struct {
		// Deployment
		Replicas *int           `yaml:"replicas"`
		Selector map[string]any `yaml:"selector"` // Deployment: matchLabels; Service: labels
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				TerminationGracePeriodSeconds *int           `yaml:"terminationGracePeriodSeconds"`
				Containers                    []k8sContainer `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
		// Service
		Ports []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
		} `yaml:"ports"`
		// ScaledObject
		ScaleTargetRef struct {
			Name string `yaml:"name"`
		} `yaml:"scaleTargetRef"`
		MinReplicaCount *int `yaml:"minReplicaCount"`
		MaxReplicaCount *int `yaml:"maxReplicaCount"`
		Triggers        []struct {
			Type     string            `yaml:"type"`
			Metadata map[string]string `yaml:"metadata"`
		} `yaml:"triggers"`
	} `yaml:"spec"`
	file string
}

type k8sContainer struct {
	Name    string `yaml:"name"`
	Image   string `yaml:"image"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
	} `yaml:"envFrom"`
	Env            []k8sEnv  `yaml:"env"`
	Ports          []k8sPort `yaml:"ports"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
}

type k8sEnv struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		SecretKeyRef *struct {
			Name string `yaml:"name"`
			Key  string `yaml:"key"`
		} `yaml:"secretKeyRef"`
	} `yaml:"valueFrom"`
}

type k8sPort struct {
	Name          string `yaml:"name"`
	ContainerPort int    `yaml:"containerPort"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

// loadManifests parses every YAML document under deployments/kubernetes.
func loadManifests(t *testing.T) (objs []k8sObject, root string) {
	t.Helper()
	root = repoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, k8sDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(r)
		for i := 0; ; i++ {
			var o k8sObject
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s document %d: %v", filepath.Base(f), i, err)
			}
			o.file = filepath.Base(f)
			if o.APIVersion == "" || o.Kind == "" {
				t.Errorf("%s document %d: apiVersion %q kind %q", o.file, i, o.APIVersion, o.Kind)
			}
			if o.Kind != "Kustomization" && o.Metadata.Name == "" {
				t.Errorf("%s document %d (%s) has no metadata.name", o.file, i, o.Kind)
			}
			objs = append(objs, o)
		}
		r.Close()
	}
	return objs, root
}

func find(t *testing.T, objs []k8sObject, kind, name string) k8sObject {
	t.Helper()
	for _, o := range objs {
		if o.Kind == kind && (name == "" || o.Metadata.Name == name) {
			return o
		}
	}
	t.Fatalf("no %s %q in %s", kind, name, k8sDir)
	return k8sObject{}
}

func TestKubernetesManifestsHaveEveryKind(t *testing.T) {
	objs, root := loadManifests(t)
	for _, want := range []string{"Namespace/contactsync", "ConfigMap/contactsync-config", "Secret/contactsync-secrets",
		"Deployment/upserter", "Deployment/reconciler", "Deployment/producer", "Service/producer", "ScaledObject/upserter",
		"CronJob/daily-report", "PersistentVolumeClaim/contactsync-reports"} {
		kind, name, _ := strings.Cut(want, "/")
		find(t, objs, kind, name)
	}
	k := find(t, objs, "Kustomization", "")
	listed := map[string]bool{}
	for _, r := range k.Resources {
		listed[r] = true
		if _, err := os.Stat(filepath.Join(root, k8sDir, r)); err != nil {
			t.Errorf("kustomization lists %s: %v", r, err)
		}
	}
	for _, o := range objs {
		switch {
		case o.Kind == "Kustomization":
		case o.Kind == "Secret":
			if listed[o.file] {
				t.Errorf("kustomization applies the secret template %s; apply would overwrite the real secret", o.file)
			}
		case !listed[o.file]:
			t.Errorf("%s (%s/%s) is not in kustomization.yaml", o.file, o.Kind, o.Metadata.Name)
		}
	}
}

func TestKubernetesDeploymentsAreWiredToConfigAndSecret(t *testing.T) {
	objs, _ := loadManifests(t)
	config := find(t, objs, "ConfigMap", "contactsync-config")
	secret := find(t, objs, "Secret", "contactsync-secrets")
	for key := range config.Data {
		if !envAllowed(key) {
			t.Errorf("ConfigMap sets %s, not a DESIGN.md name", key)
		}
	}
	if config.Data["NATS_REPLICAS"] != "3" {
		t.Errorf("NATS_REPLICAS = %q, want 3 for the clustered NATS", config.Data["NATS_REPLICAS"])
	}
	if !strings.HasSuffix(config.Data["METRICS_ADDR"], ":9090") {
		t.Errorf("METRICS_ADDR = %q, want port 9090 (the probes' port)", config.Data["METRICS_ADDR"])
	}
	for _, name := range []string{"upserter", "reconciler", "producer"} {
		d := find(t, objs, "Deployment", name)
		t.Run(name, func(t *testing.T) {
			sel, _ := d.Spec.Selector["matchLabels"].(map[string]any)
			for k, v := range sel {
				if d.Spec.Template.Metadata.Labels[k] != v {
					t.Errorf("selector %s=%v does not match the pod labels %v", k, v, d.Spec.Template.Metadata.Labels)
				}
			}
			if len(d.Spec.Template.Spec.Containers) != 1 {
				t.Fatalf("%d containers, want 1", len(d.Spec.Template.Spec.Containers))
			}
			c := d.Spec.Template.Spec.Containers[0]
			if c.Image != fmt.Sprintf("contactsync/%s:latest", name) {
				t.Errorf("image %q", c.Image)
			}
			if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[0].ConfigMapRef.Name != config.Metadata.Name {
				t.Errorf("envFrom %+v, want the ConfigMap %s", c.EnvFrom, config.Metadata.Name)
			}
			for _, e := range c.Env {
				if !envAllowed(e.Name) {
					t.Errorf("env %s is not a DESIGN.md name", e.Name)
				}
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					ref := e.ValueFrom.SecretKeyRef
					if _, ok := secret.StringData[ref.Key]; ref.Name != secret.Metadata.Name || !ok {
						t.Errorf("env %s reads %s/%s, which the secret template does not define", e.Name, ref.Name, ref.Key)
					}
				}
				if strings.Contains(e.Name, "SECRET") || strings.Contains(e.Name, "TOKEN") {
					if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
						t.Errorf("env %s must come from the Secret", e.Name)
					}
				}
			}
			metricsPort := 0
			for _, p := range c.Ports {
				if p.Name == "metrics" {
					metricsPort = p.ContainerPort
				}
			}
			if metricsPort != 9090 {
				t.Errorf("metrics containerPort %d, want 9090", metricsPort)
			}
			for what, p := range map[string]*k8sProbe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
				if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port != "metrics" {
					t.Errorf("%s probe %+v, want httpGet /healthz on the metrics port", what, p)
				}
			}
			if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
				t.Errorf("resources %+v, want cpu/memory requests and a memory limit", c.Resources)
			}
		})
	}
	up := find(t, objs, "Deployment", "upserter")
	if g := up.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g != 60 {
		t.Errorf("upserter terminationGracePeriodSeconds %v, want 60", g)
	}
	if up.Spec.Replicas != nil {
		t.Errorf("upserter sets replicas %d; KEDA owns the count", *up.Spec.Replicas)
	}
	if c := up.Spec.Template.Spec.Containers[0]; !slices.ContainsFunc(c.Env, func(e k8sEnv) bool {
		return e.Name == "SF_CLIENT_SECRET" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil
	}) {
		t.Error("upserter does not read SF_CLIENT_SECRET from the Secret")
	}

	svc := find(t, objs, "Service", "producer")
	pod := find(t, objs, "Deployment", "producer").Spec.Template
	for k, v := range svc.Spec.Selector {
		if pod.Metadata.Labels[k] != v {
			t.Errorf("Service selector %s=%v does not match the producer pods %v", k, v, pod.Metadata.Labels)
		}
	}
	for _, p := range svc.Spec.Ports {
		if !slices.ContainsFunc(pod.Spec.Containers[0].Ports, func(cp k8sPort) bool {
			return cp.Name == p.TargetPort
		}) {
			t.Errorf("Service port %s targets %v, not a named producer port", p.Name, p.TargetPort)
		}
	}
}

func TestKedaScalesTheUpserterOnConsumerLag(t *testing.T) {
	objs, _ := loadManifests(t)
	so := find(t, objs, "ScaledObject", "upserter")
	if so.APIVersion != "keda.sh/v1alpha1" || so.Spec.ScaleTargetRef.Name != "upserter" {
		t.Errorf("ScaledObject %s targets %q", so.APIVersion, so.Spec.ScaleTargetRef.Name)
	}
	find(t, objs, "Deployment", so.Spec.ScaleTargetRef.Name)
	// Partitions (SYNC_PARTITIONS default, pkg/upsert) cap useful replicas.
	if so.Spec.MaxReplicaCount == nil || *so.Spec.MaxReplicaCount != 16 {
		t.Errorf("maxReplicaCount %v, want 16 (the partition count)", so.Spec.MaxReplicaCount)
	}
	if so.Spec.MinReplicaCount == nil || *so.Spec.MinReplicaCount < 2 {
		t.Errorf("minReplicaCount %v, want >= 2 so a pod loss fails over", so.Spec.MinReplicaCount)
	}
	if len(so.Spec.Triggers) == 0 {
		t.Fatal("no triggers")
	}
	for _, tr := range so.Spec.Triggers {
		md := tr.Metadata
		if tr.Type != "nats-jetstream" {
			t.Errorf("trigger type %q", tr.Type)
		}
		if !strings.HasSuffix(md["natsServerMonitoringEndpoint"], ":8222") {
			t.Errorf("natsServerMonitoringEndpoint %q, want the monitoring port 8222", md["natsServerMonitoringEndpoint"])
		}
		if md["account"] != "$G" || md["stream"] != "CONTACTS" || !strings.HasPrefix(md["consumer"], "upsert-p") || md["lagThreshold"] == "" {
			t.Errorf("trigger metadata %v, want account $G, stream CONTACTS, an upsert-pNN consumer, a lagThreshold", md)
		}
	}
	if so.Spec.Triggers[0].Metadata["consumer"] != "upsert-p00" {
		t.Errorf("first trigger reads %q, want upsert-p00", so.Spec.Triggers[0].Metadata["consumer"])
	}
}

// The daily reports run once a day as a CronJob of syncctl, never two at a
// time, not retried (exit 3 = rows, which is the alert), with the org's
// credentials and a volume that keeps earlier runs for the trend.
func TestKubernetesDailyReportCronJob(t *testing.T) {
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, k8sDir, "daily-report.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cj struct {
		Kind string `yaml:"kind"`
		Spec struct {
			Schedule          string `yaml:"schedule"`
			ConcurrencyPolicy string `yaml:"concurrencyPolicy"`
			JobTemplate       struct {
				Spec struct {
					BackoffLimit *int `yaml:"backoffLimit"`
					Template     struct {
						Spec struct {
							RestartPolicy   string `yaml:"restartPolicy"`
							SecurityContext struct {
								FSGroup int `yaml:"fsGroup"`
							} `yaml:"securityContext"`
							Containers []struct {
								Image   string `yaml:"image"`
								EnvFrom []struct {
									ConfigMapRef *struct {
										Name string `yaml:"name"`
									} `yaml:"configMapRef"`
								} `yaml:"envFrom"`
								Env          []k8sEnv `yaml:"env"`
								Args         []string `yaml:"args"`
								VolumeMounts []struct {
									Name      string `yaml:"name"`
									MountPath string `yaml:"mountPath"`
								} `yaml:"volumeMounts"`
							} `yaml:"containers"`
							Volumes []struct {
								Name                  string `yaml:"name"`
								PersistentVolumeClaim struct {
									ClaimName string `yaml:"claimName"`
								} `yaml:"persistentVolumeClaim"`
							} `yaml:"volumes"`
						} `yaml:"spec"`
					} `yaml:"template"`
				} `yaml:"spec"`
			} `yaml:"jobTemplate"`
		} `yaml:"spec"`
	}
	if err := yaml.NewDecoder(strings.NewReader(string(data))).Decode(&cj); err != nil || cj.Kind != "CronJob" {
		t.Fatalf("daily-report.yaml's first document: kind %q, %v", cj.Kind, err)
	}
	if len(strings.Fields(cj.Spec.Schedule)) != 5 {
		t.Errorf("schedule %q, want a 5-field cron expression", cj.Spec.Schedule)
	}
	if cj.Spec.ConcurrencyPolicy != "Forbid" {
		t.Errorf("concurrencyPolicy %q, want Forbid", cj.Spec.ConcurrencyPolicy)
	}
	job := cj.Spec.JobTemplate.Spec
	if job.BackoffLimit == nil || *job.BackoffLimit != 0 {
		t.Errorf("backoffLimit %v, want 0 (a run with rows exits 3 and is not retried)", job.BackoffLimit)
	}
	pod := job.Template.Spec
	if pod.RestartPolicy != "Never" || len(pod.Containers) != 1 {
		t.Fatalf("restartPolicy %q, %d containers", pod.RestartPolicy, len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image != "contactsync/syncctl:latest" {
		t.Errorf("image %q", c.Image)
	}
	i := slices.Index(c.Args, "--out")
	if len(c.Args) < 2 || c.Args[0] != "report" || !slices.Contains(c.Args, "--daily") || i < 0 || i+1 >= len(c.Args) {
		t.Fatalf("args %v, want report --daily --out DIR", c.Args)
	}
	mounted := ""
	for _, m := range c.VolumeMounts {
		if m.MountPath == c.Args[i+1] {
			mounted = m.Name
		}
	}
	objs, _ := loadManifests(t)
	claim := ""
	for _, v := range pod.Volumes {
		if v.Name == mounted {
			claim = v.PersistentVolumeClaim.ClaimName
		}
	}
	if claim == "" {
		t.Fatalf("--out %s is not on a PersistentVolumeClaim", c.Args[i+1])
	}
	find(t, objs, "PersistentVolumeClaim", claim)
	if pod.SecurityContext.FSGroup == 0 {
		t.Error("no fsGroup: the non-root container cannot write the volume")
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[0].ConfigMapRef.Name != "contactsync-config" {
		t.Errorf("envFrom %+v, want the ConfigMap", c.EnvFrom)
	}
	if !slices.ContainsFunc(c.Env, func(e k8sEnv) bool {
		return e.Name == "SF_CLIENT_SECRET" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == "contactsync-secrets"
	}) {
		t.Error("SF_CLIENT_SECRET does not come from the Secret")
	}
	k := find(t, objs, "Kustomization", "")
	if !slices.Contains(k.Resources, "daily-report.yaml") {
		t.Error("daily-report.yaml is not in kustomization.yaml")
	}
}
