package server

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/sluicehq/sluice/internal/config"
)

// workerKeysFile holds the generated worker keys in the data directory,
// one per endpoint, so they survive restarts and `sluice worker-env` prints
// the key the server checks.
const workerKeysFile = "worker-keys.json"

// workerKeys returns each endpoint's worker key: the endpoint's workerKey,
// else the file's workerKey (config.Parse already folds that in), else a
// random key generated once and kept in dataDir.
func workerKeys(dataDir string, f *config.File) (map[string]string, error) {
	keys := make(map[string]string, len(f.Endpoints))
	var missing []string
	for _, ep := range f.Endpoints {
		switch {
		case ep.WorkerKey != "":
			keys[ep.ID] = ep.WorkerKey
		case f.WorkerKey != "":
			keys[ep.ID] = f.WorkerKey
		default:
			missing = append(missing, ep.ID)
		}
	}
	if len(missing) == 0 {
		return keys, nil
	}
	stored, err := storedKeys(dataDir, missing)
	if err != nil {
		return nil, err
	}
	for _, id := range missing {
		keys[id] = stored[id]
	}
	return keys, nil
}

// storedKeys reads dataDir's worker key file, adds keys for the endpoints in
// need that lack one, and writes it back (under a lock, atomically).
func storedKeys(dataDir string, need []string) (map[string]string, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(dataDir, workerKeysFile)
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock worker keys: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, fmt.Errorf("lock worker keys: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing the file unlocks too

	keys := map[string]string{}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read worker keys: %w", err)
	default:
		if err := json.Unmarshal(data, &keys); err != nil {
			return nil, fmt.Errorf("worker keys file %s is corrupt (delete it to generate new keys): %w", path, err)
		}
	}
	changed := false
	for _, id := range need {
		if keys[id] != "" {
			continue
		}
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("generate worker key: %w", err)
		}
		keys[id] = "swk_" + hex.EncodeToString(b)
		changed = true
	}
	if !changed {
		return keys, nil
	}
	out, err := json.MarshalIndent(keys, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode worker keys: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(out, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("write worker keys: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("write worker keys: %w", err)
	}
	return keys, nil
}
