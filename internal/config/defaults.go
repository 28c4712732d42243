package config

import "time"

// Every default lives here: decoding starts from these values and
// overwrites what the file sets, so a key left out and a key set to its
// default give the same Config.

func defaultConfig() *Config {
	return &Config{
		Listen:        []string{"127.0.0.1:8080"},
		ProxyStatus:   ProxyStatusError,
		ProxyName:     "portico",
		ShutdownGrace: 30 * time.Second,
		ClientTimeouts: ClientTimeouts{
			Head: 10 * time.Second,
			Idle: 75 * time.Second,
			Send: 60 * time.Second,
		},
		AccessLog: AccessLog{
			Path:   "-",
			Format: "json",
		},
		Limits: Limits{
			RequestHeaderBytes:         64 << 10,
			ResponseHeaderSectionBytes: 256 << 10,
			ResponseHeaderBytes:        64 << 10,
			ResponseBodyBytes:          0,
		},
		ResolveTimeout: 2 * time.Second,
	}
}

func defaultUpstream(name string, pos Pos) *Upstream {
	return &Upstream{
		Name:    name,
		Balance: RoundRobin,
		Timeouts: Timeouts{
			Connect:        2 * time.Second,
			ResponseHeader: 30 * time.Second,
			Read:           60 * time.Second,
			Write:          30 * time.Second,
			Request:        0,
		},
		ResolveEvery:     30 * time.Second,
		MaxIdlePerTarget: 64,
		IdleTimeout:      60 * time.Second,
		Outlier: Outlier{
			ConsecutiveFailures: 5,
			EjectFor:            30 * time.Second,
		},
		Retries: Retries{Attempts: 2, BudgetPercent: 20},
		Pos:     pos,
	}
}

func defaultTarget(pos Pos) Target {
	return Target{Weight: 1, Pos: pos}
}

func defaultRoute(pos Pos) *Route {
	return &Route{PathPrefix: "/", Pos: pos}
}

func defaultHealthCheck() *HealthCheck {
	return &HealthCheck{
		Path:           "/",
		Interval:       5 * time.Second,
		Timeout:        time.Second,
		HealthyAfter:   2,
		UnhealthyAfter: 3,
		ExpectStatus:   StatusRange{Min: 200, Max: 399},
	}
}

// defaultRateLimit leaves Burst 0 until decoding is done: it defaults to
// Requests, whatever order the keys come in.
func defaultRateLimit() *RateLimit {
	return &RateLimit{Per: time.Second}
}
