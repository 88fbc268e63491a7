// Package wire is the one home of Runpod Serverless's wire format as Sluice
// speaks it: job states and their spelling, the bodies of /status (also the
// webhook body), /stream and /health, Python truthiness of worker fields,
// the worker routes and the RUNPOD_* worker environment.
//
// It uses the standard library only, so the serverless SDK and the client
// import it as well as the server: their public types keep their names, but
// their spelling comes from here and from the golden files in testdata/,
// which every side's tests read. See docs/spec/runpod-api.md and
// docs/spec/runpod-worker-protocol.md for the protocol itself.
package wire
