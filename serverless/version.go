package serverless

// Version is the SDK's version. It is sent as runpod_version in heartbeats
// and error payloads, printed in the start-up banner and named in the
// User-Agent of every request the worker makes.
const Version = "0.1.0"
