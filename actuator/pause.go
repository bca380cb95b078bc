package actuator

import "time"

// Pause and Resume let one engine act in terms: with several receiver
// replicas, only the holder of the actuator lease acts, and a replica that
// takes the lease over resumes from the state its predecessor committed.

// Pause stops acting: pending reverts are cancelled, running actions
// finish, and the in-memory state is dropped (the store keeps what was
// committed). Handle does nothing until Resume.
func (e *Engine) Pause() {
	e.Close()
	e.mu.Lock()
	e.active = map[target]*activeAction{}
	e.lastChange = map[target]time.Time{}
	e.mu.Unlock()
	e.saveMu.Lock()
	e.saved = nil
	e.saveMu.Unlock()
}

// Resume acts again, from doc (the committed state; nil for none). A doc
// that cannot be restored is reported, and the engine acts without it.
func (e *Engine) Resume(doc []byte) error {
	e.mu.Lock()
	e.closed = false
	e.mu.Unlock()
	if doc == nil {
		return nil
	}
	return e.Restore(doc)
}
