package registry

// MetricRouterRequestDropped is barrel_p2p's counter of route requests shed
// by the in-flight cap (spec §7); the driver increments it for each
// ReplyRoute whose result is RouteOverloaded. No attributes.
const MetricRouterRequestDropped = "barrel_p2p.router.request_dropped"
