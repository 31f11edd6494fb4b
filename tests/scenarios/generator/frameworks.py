"""What each kind of service emits as its framework does: the metric names and labels of its HTTP or gRPC
instrumentation, the log format it writes under each logging convention, and its ordinary log lines."""

from __future__ import annotations

from dataclasses import dataclass

PROMHTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]  # client_golang DefBuckets
OTEL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]  # semconv http
MICROMETER_SLO = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]
NODE_BUCKETS = [0.003, 0.03, 0.1, 0.3, 1.5, 10.0]  # express-prom-bundle


@dataclass(frozen=True)
class Instrumentation:
    """How a framework counts requests and times them.

    `counter` is a separate request counter (None when counts come from the latency family's `_count`);
    `status` is the label carrying the outcome and `status_value` renders a code into it.
    """

    latency: str
    counter: str | None
    status: str
    route_label: str
    method_label: str | None
    buckets: tuple[float, ...]
    summary_allowed: bool
    status_on_latency: bool  # whether the latency family carries the status label
    grouped: bool = False  # status written as its class (2xx, 5xx)

    def status_value(self, code: int) -> str:
        if self.status == "grpc_code":
            return {200: "OK", 500: "Internal", 503: "Unavailable", 504: "DeadlineExceeded", 429: "ResourceExhausted"
                    }.get(code, "Unknown")
        if self.grouped:
            return f"{str(code)[0]}xx"
        return str(code)


INSTRUMENTATION: dict[str, Instrumentation] = {
    # client_golang promhttp: a counter with code, a histogram without it
    "go": Instrumentation("http_request_duration_seconds", "http_requests_total", "code", "handler", "method",
                          tuple(PROMHTTP_BUCKETS), True, False),
    # Micrometer (Spring Boot actuator): one timer, counted by its _count, with status/outcome/uri
    "spring": Instrumentation("http_server_requests_seconds", None, "status", "uri", "method",
                              tuple(MICROMETER_SLO), True, True),
    # prometheus-fastapi-instrumentator: status grouped into 2xx/5xx
    "python": Instrumentation("http_request_duration_seconds", "http_requests_total", "status", "handler", "method",
                              tuple(PROMHTTP_BUCKETS), False, False, grouped=True),
    # express-prom-bundle
    "node": Instrumentation("http_request_duration_seconds", None, "status_code", "path", "method",
                            tuple(NODE_BUCKETS), False, True),
    # axum-prometheus
    "rust": Instrumentation("axum_http_requests_duration_seconds", "axum_http_requests_total", "status", "endpoint",
                            "method", tuple(PROMHTTP_BUCKETS), False, True),
    # OpenTelemetry SDK through the collector's Prometheus exporter (semantic conventions 1.26)
    "otel": Instrumentation("http_server_request_duration_seconds", None, "http_response_status_code", "http_route",
                            "http_request_method", tuple(OTEL_BUCKETS), False, True),
    # go-grpc-prometheus
    "grpc": Instrumentation("grpc_server_handling_seconds", "grpc_server_handled_total", "grpc_code", "grpc_method",
                            None, tuple(PROMHTTP_BUCKETS), False, False),
}

# The log format each framework writes under the cluster's convention.
LOG_FORMATS: dict[str, dict[str, str]] = {
    "json": {"go": "zap", "spring": "logstash", "python": "structlog", "node": "pino", "rust": "tracing",
             "otel": "zap", "grpc": "zap"},
    "logfmt": {"go": "logfmt", "spring": "spring", "python": "logfmt", "node": "pino", "rust": "tracing",
               "otel": "logfmt", "grpc": "logfmt"},
    "plain": {"go": "logfmt", "spring": "spring", "python": "python", "node": "pino", "rust": "tracing",
              "otel": "logfmt", "grpc": "logfmt"},
}

LOGGERS = {"go": "server/handler.go:142", "spring": "c.e.{name}.web.RequestLoggingFilter",
           "python": "uvicorn.access", "node": "http", "rust": "tower_http::trace", "otel": "server/http.go:88",
           "grpc": "grpc/server.go:57"}


def access_lines(framework: str, route: str) -> list[dict[str, str]]:
    """The ordinary request lines of a service, with durations and ids that vary per line."""
    if framework == "spring":
        return [{"message": f"Completed GET {route} 200 in {{ms}}ms | traceId={{trace}}"},
                {"message": f"Completed POST {route} 201 in {{ms}}ms | traceId={{trace}}"}]
    if framework == "python":
        return [{"message": f'{{ip}}:{{port}} - "GET {route} HTTP/1.1" 200'},
                {"message": f'{{ip}}:{{port}} - "POST {route} HTTP/1.1" 200'}]
    if framework == "rust":
        return [{"message": f"finished processing request | method=GET uri={route} status=200 latency={{ms}}ms"}]
    return [{"message": f"request completed | method=GET path={route} status=200 duration_ms={{ms}} "
                        f"trace_id={{trace}}"},
            {"message": f"request completed | method=POST path={route} status=200 duration_ms={{ms}} "
                        f"trace_id={{trace}}"}]


def routine_warnings(framework: str) -> list[dict[str, str]]:
    """Warnings a healthy service writes now and then."""
    if framework == "spring":
        return [{"level": "warn", "message": "HikariPool-1 - Thread starvation or clock leap detected "
                                             "(housekeeper delta=1m2s)."},
                {"level": "warn", "message": "Retrying request after timeout | attempt=1"}]
    return [{"level": "warn", "message": "slow request | path=/healthz duration_ms={ms_slow}"},
            {"level": "warn", "message": "client closed connection before response | bytes={bytes}"},
            {"level": "error", "message": "context canceled | path=/api/v1/search"}]
