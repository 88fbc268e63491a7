package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/client"
)

// Environment variables the client commands read.
const (
	envURL       = "SLUICE_URL"
	envKey       = "SLUICE_API_KEY"
	envRunpodKey = "RUNPOD_API_KEY"
	defaultURL   = "http://127.0.0.1:8080"
	groupClient  = "client"
)

// rootLong is the root command's description; it documents what every
// client command shares.
const rootLong = `Sluice is a self-hosted serverless job platform that speaks Runpod Serverless's
protocols: "sluice serve" runs endpoints and their workers, and the client
commands below send jobs to any server with Runpod's /v2 API (Sluice, or
Runpod itself with --url https://api.runpod.ai).

Connection (every client command):
  --url, $SLUICE_URL          server base URL (default ` + defaultURL + `)
  --api-key, $SLUICE_API_KEY  API key sent as "Authorization: Bearer <key>";
                              $RUNPOD_API_KEY is used when $SLUICE_API_KEY is unset
  --json                      print the server's JSON response as is, for scripts

Commands about one job name its endpoint too: sluice status ENDPOINT JOB_ID
(likewise wait, stream, cancel, retry, job), as in the /v2/ENDPOINT/status/JOB_ID path.

Job input (run, runsync) is a JSON argument, @file, or - for stdin. A JSON
object with an "input" key is sent as the whole request body (so "webhook",
"policy", "s3Config" pass through); any other value is wrapped as
{"input": value}, as runpod-python's Endpoint.run does.

Exit codes:
  0    success; for run/runsync/wait/stream/status: the job COMPLETED
       (run and retry: the job was accepted)
  1    a request failed, or bad input
  2    wrong arguments or flags
  3    the job ended FAILED, CANCELLED or TIMED_OUT
  4    the job has not finished yet (status, or wait/runsync --timeout)
  130  interrupted while waiting (the job goes on)`

const rootExample = `  sluice run echo '{"prompt": "hello"}'     # submit; prints the job id
  sluice wait echo JOB_ID                   # wait; prints the output
  sluice runsync echo @input.json           # submit and wait in one step
  cat input.json | sluice run echo -        # input from stdin
  sluice stream echo JOB_ID                 # chunks of a streaming handler
  sluice status echo JOB_ID --json | jq .status`

// conn holds the connection flags of one client command.
type conn struct {
	url, key string
	json     bool
}

// addConnFlags adds --url, --api-key and --json to cmd.
func addConnFlags(cmd *cobra.Command, c *conn) {
	f := cmd.Flags()
	f.StringVar(&c.url, "url", "", "server base URL (default $"+envURL+" or "+defaultURL+")")
	f.StringVar(&c.key, "api-key", "", "API key (default $"+envKey+", then $"+envRunpodKey+")")
	f.BoolVar(&c.json, "json", false, "print the server's JSON response as is")
}

// baseURL resolves --url, $SLUICE_URL and the default. A bare host:port
// means http://host:port.
func (c *conn) baseURL() string {
	u := c.url
	if u == "" {
		u = os.Getenv(envURL)
	}
	if u == "" {
		return defaultURL
	}
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	return u
}

// client builds a client from the flags and the environment.
func (c *conn) client(opts ...client.Option) *client.Client {
	key := c.key
	if key == "" {
		key = os.Getenv(envKey)
	}
	if key == "" {
		key = os.Getenv(envRunpodKey)
	}
	return client.New(c.baseURL(), key, append([]client.Option{client.WithUserAgent("sluice-cli")}, opts...)...)
}

// explain adds a hint to errors a person can fix from the command line.
func (c *conn) explain(err error) error {
	var op *net.OpError
	switch {
	case errors.As(err, &op) && op.Op == "dial":
		return fmt.Errorf("%w (is the server running at %s? set --url or $%s)", err, c.baseURL(), envURL)
	case errors.Is(err, client.ErrUnauthorized):
		return fmt.Errorf("%w (set $%s or --api-key)", err, envKey)
	}
	return err
}

// addClientCommands adds the client commands to root.
func addClientCommands(root *cobra.Command, s streams) {
	if root.Long == "" {
		root.Long = rootLong
	}
	if root.Example == "" {
		root.Example = rootExample
	}
	root.AddGroup(&cobra.Group{ID: groupClient, Title: "Client commands (any server with Runpod's /v2 API):"})
	for _, cmd := range []*cobra.Command{
		runCmd(s), runsyncCmd(s), statusCmd(s), waitCmd(s), streamCmd(s), cancelCmd(s), retryCmd(s),
		healthCmd(s), purgeCmd(s), logsCmd(s), workersCmd(s), endpointsCmd(s),
		jobsCmd(s), jobCmd(s), // jobs_cmd.go
	} {
		cmd.GroupID = groupClient
		root.AddCommand(cmd)
	}
}

// requestFlags are the per-job request options of run and runsync.
type requestFlags struct {
	webhook          string
	executionTimeout time.Duration
	ttl              time.Duration
	lowPriority      bool
}

func addRequestFlags(cmd *cobra.Command, r *requestFlags) {
	f := cmd.Flags()
	f.StringVar(&r.webhook, "webhook", "", "URL the server POSTs the final status to")
	f.DurationVar(&r.executionTimeout, "execution-timeout", 0, "longest the job may run once started (policy.executionTimeout), e.g. 10m")
	f.DurationVar(&r.ttl, "ttl", 0, "the job's whole lifetime from submission (policy.ttl), e.g. 24h")
	f.BoolVar(&r.lowPriority, "low-priority", false, "run only when no normal job waits (policy.lowPriority)")
}

// options turns the input's fields and the flags into request options.
// Flags win over the same fields in the input; policy fields merge.
func (r *requestFlags) options(in *jobInput) ([]client.RequestOption, error) {
	fields := map[string]json.RawMessage{}
	for k, v := range in.Fields {
		fields[k] = v
	}
	if r.webhook != "" {
		b, _ := json.Marshal(r.webhook)
		fields["webhook"] = b
	}
	if r.executionTimeout != 0 || r.ttl != 0 || r.lowPriority {
		policy := map[string]any{}
		if raw, ok := fields["policy"]; ok {
			if err := json.Unmarshal(raw, &policy); err != nil || policy == nil {
				return nil, errors.New(`input: "policy" must be a JSON object`)
			}
		}
		if r.executionTimeout != 0 {
			policy["executionTimeout"] = r.executionTimeout.Milliseconds()
		}
		if r.ttl != 0 {
			policy["ttl"] = r.ttl.Milliseconds()
		}
		if r.lowPriority {
			policy["lowPriority"] = true
		}
		b, err := json.Marshal(policy)
		if err != nil {
			return nil, fmt.Errorf("encode policy: %w", err)
		}
		fields["policy"] = b
	}
	var opts []client.RequestOption
	for k, v := range fields {
		opts = append(opts, client.WithField(k, v))
	}
	return opts, nil
}
