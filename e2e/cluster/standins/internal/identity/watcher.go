package identity

// STAND-IN for linkerd2 pkg/tls/creds_watcher.go: watch a Secret volume
// directory and signal when the kubelet swaps its "..data" symlink.

import (
	"context"
	"log"
	"path/filepath"

	"github.com/fsnotify/fsnotify"
)

// DataDirLink is the symlink the kubelet's atomic writer swaps on each update:
// the directory holds ..<timestamp>/ directories, ..data -> ..<timestamp>,
// and tls.crt -> ..data/tls.crt (and so on for each key).
const DataDirLink = "..data"

// FsCredsWatcher sends on Events each time "..data" is (re)created in Dir.
type FsCredsWatcher struct {
	Dir    string
	Events chan<- struct{}
	Errors chan<- error
	// Ready, if set, is closed once the directory is being watched.
	Ready chan struct{}
}

// StartWatching watches until ctx ends or the watcher fails. An error adding
// the directory is returned (upstream treats it as fatal).
func (w *FsCredsWatcher) StartWatching(ctx context.Context) error {
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer watcher.Close()
	if err := watcher.Add(w.Dir); err != nil {
		return err
	}
	if w.Ready != nil {
		close(w.Ready)
	}
	target := filepath.Join(w.Dir, DataDirLink)
	for {
		select {
		case ev, ok := <-watcher.Events:
			if !ok {
				return nil
			}
			// The atomic writer renames ..data_tmp onto ..data, which shows up
			// as a Create of ..data in the watched directory.
			if ev.Op&fsnotify.Create == fsnotify.Create && ev.Name == target {
				select {
				case w.Events <- struct{}{}:
				case <-ctx.Done():
					return nil
				}
			}
		case err, ok := <-watcher.Errors:
			if !ok {
				return nil
			}
			log.Printf("level=warning msg=%q", "Error while watching "+w.Dir+": "+err.Error())
			select {
			case w.Errors <- err:
			case <-ctx.Done():
			}
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}
