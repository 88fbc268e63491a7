package server

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/netguard"
	"github.com/sluicehq/sluice/internal/ratelimit"
)

// webhookTimeout bounds one webhook request.
const webhookTimeout = 10 * time.Second

// guards are the checks that follow the config file: which webhook targets
// are allowed (webhooks.allow) and the client rate limits (rateLimits).
type guards struct {
	webhook *netguard.Guard
	limits  *ratelimit.Limiter
}

func newGuards(f *config.File) (*guards, error) {
	g, err := netguard.New(netguard.Config{Allow: f.Webhooks.Allow})
	if err != nil {
		return nil, fmt.Errorf("webhooks.allow: %w", err)
	}
	return &guards{webhook: g, limits: ratelimit.New(f.RateLimits, endpointLimits(f))}, nil
}

// apply switches to a reloaded file's settings.
func (g *guards) apply(f *config.File) error {
	if err := g.webhook.SetAllow(f.Webhooks.Allow); err != nil {
		return fmt.Errorf("webhooks.allow: %w", err)
	}
	g.limits.Set(f.RateLimits, endpointLimits(f))
	return nil
}

func endpointLimits(f *config.File) map[string]config.RateLimits {
	m := map[string]config.RateLimits{}
	for _, ep := range f.Endpoints {
		if len(ep.RateLimits) > 0 {
			m[ep.ID] = ep.RateLimits
		}
	}
	return m
}
