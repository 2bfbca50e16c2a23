package main

import (
	"context"
	"errors"

	"github.com/secondbrain-dev/secondbrain/server/localindex"
	"github.com/secondbrain-dev/secondbrain/server/vectorstore"
)

// overflowRouter sends each call's overflow files to the provider's vector
// stores or to the local index, by the calling tool, and each search to
// the index that holds the store.
type overflowRouter struct {
	remote vectorstore.Attacher // nil: no provider stores
	local  *localindex.Index    // nil: no local index
	// remoteFor says whether tool's overflow goes to the provider's
	// stores (when there are any).
	remoteFor func(tool string) bool
}

var _ vectorstore.Attacher = (*overflowRouter)(nil)

func (r *overflowRouter) Attach(ctx context.Context, req vectorstore.AttachRequest) (vectorstore.Attachment, error) {
	switch {
	case r.remote != nil && (r.local == nil || r.remoteFor(req.Tool)):
		return r.remote.Attach(ctx, req)
	case r.local != nil:
		return r.local.Attach(ctx, req)
	}
	return vectorstore.Attachment{}, errors.New("no vector store for this model")
}

func (r *overflowRouter) Search(ctx context.Context, ids []string, query string, maxResults int) ([]vectorstore.SearchHit, error) {
	remote, local := localindex.Split(ids)
	var hits []vectorstore.SearchHit
	if len(local) > 0 && r.local != nil {
		h, err := r.local.Search(ctx, local, query, maxResults)
		if err != nil {
			return nil, err
		}
		hits = append(hits, h...)
	}
	if len(remote) > 0 && r.remote != nil {
		h, err := r.remote.Search(ctx, remote, query, maxResults)
		if err != nil {
			return nil, err
		}
		hits = append(hits, h...)
	}
	return hits, nil
}
