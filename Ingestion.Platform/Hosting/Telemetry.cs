using System.Diagnostics;
using Prometheus;

namespace Ingestion.Platform.Hosting;

/// <summary>
/// The service's own traces and metrics. Traces: an <see cref="ActivitySource"/> next to
/// ASP.NET Core's, MassTransit's and Npgsql's, exported over OTLP when an endpoint is set.
/// Metrics: Prometheus instruments, observed where the thing happens and served at <c>/metrics</c>
/// on the management port of the process that observed them (jobs by state and queue depth come
/// from the API, which asks PostgreSQL and RabbitMQ at a scrape, at most once per <c>Management:GaugeInterval</c>).
/// </summary>
public static class Telemetry
{
    public const string Name = "Ingestion";

    public static readonly ActivitySource Source = new(Name);

    public static readonly Counter RowsLoaded = Metrics.CreateCounter(
        "ingestion_rows_loaded_total", "Rows committed into datasets by upload jobs.", "tenant");

    public static readonly Counter RowsRejected = Metrics.CreateCounter(
        "ingestion_rows_rejected_total", "Rows of uploads written to a rejects file instead of their dataset.", "tenant");

    public static readonly Counter Transitions = Metrics.CreateCounter(
        "ingestion_job_transitions_total", "Committed state changes of jobs, by the state entered.", "kind", "state");

    public static readonly Histogram JobDuration = Metrics.CreateHistogram(
        "ingestion_job_duration_seconds", "From a job's creation to its end, by kind and final state.",
        new HistogramConfiguration
        {
            LabelNames = ["kind", "state"],
            Buckets = Histogram.ExponentialBuckets(0.25, 2, 16),
        });

    public static readonly Counter JobsReaped = Metrics.CreateCounter(
        "ingestion_jobs_reaped_total", "Stranded jobs (unfinished, not moving, unlocked) whose work the reaper sent again.", "kind");

    public static readonly Counter WebhookAttempts = Metrics.CreateCounter(
        "ingestion_webhook_attempts_total", "Webhook deliveries tried, by outcome.", "outcome");

    public static readonly Counter OutboxPoisoned = Metrics.CreateCounter(
        "ingestion_outbox_poisoned_total", "Outbox rows set aside because they cannot become a message (GET /v1/ops/outbox lists them).");
}
