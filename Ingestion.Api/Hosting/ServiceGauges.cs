using System.Diagnostics;
using System.Net.Http.Json;
using Ingestion.Api.Ops;
using Ingestion.Api.Progress;
using Ingestion.Platform.Hosting;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Messaging;
using Microsoft.Extensions.Options;
using Npgsql;
using Prometheus;

namespace Ingestion.Api.Hosting;

/// <summary>
/// Gauges read at a Prometheus scrape, from where the truth is: jobs by kind and state (every
/// registered kind's states, 0 when no job is in them) and
/// the outbox backlog from PostgreSQL, queue depths from RabbitMQ's management API, open
/// progress streams from this instance. The shared figures are read at most once per
/// <c>Management:GaugeInterval</c>, by one scrape while the others wait for it, so a burst of
/// scrapes costs PostgreSQL and RabbitMQ one read. Every API instance reports the same shared
/// figures; aggregate them with <c>max</c>, not <c>sum</c>.
/// </summary>
public sealed partial class ServiceGauges(
    NpgsqlDataSource dataSource,
    JobFeed feed,
    IOptions<RabbitMqOptions> rabbit,
    IOptions<ManagementOptions> management,
    IHttpClientFactory clients,
    ILogger<ServiceGauges> logger) : IHostedService, IDisposable
{
    private static readonly Gauge Jobs = Metrics.CreateGauge("ingestion_jobs", "Jobs kept, by kind and state.", "kind", "state");

    private static readonly Gauge Outbox = Metrics.CreateGauge("ingestion_outbox_pending", "Messages written but not yet relayed to RabbitMQ.");

    private static readonly Gauge Queues = Metrics.CreateGauge("ingestion_queue_messages",
        "Messages in the service's RabbitMQ queues (ready and unacknowledged).", "queue");

    private static readonly Gauge Streams = Metrics.CreateGauge("ingestion_live_streams", "Progress streams open on this API instance.");

    private const string JobsSql = "select kind, current_state, count(*) from ingestion.jobs group by kind, current_state";

    private readonly SemaphoreSlim _reading = new(1, 1);
    private long _readAt = long.MinValue;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        Metrics.DefaultRegistry.AddBeforeCollectCallback(CollectAsync);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _reading.Dispose();

    private async Task CollectAsync(CancellationToken cancellationToken)
    {
        Streams.Set(feed.Watchers);
        if (Fresh())
        {
            return;
        }

        await _reading.WaitAsync(cancellationToken);
        try
        {
            if (Fresh())
            {
                return;
            }

            await CollectJobsAsync(cancellationToken);
            await CollectQueuesAsync(cancellationToken);
            Volatile.Write(ref _readAt, Stopwatch.GetTimestamp());
        }
        finally
        {
            _reading.Release();
        }
    }

    private bool Fresh() =>
        Volatile.Read(ref _readAt) is var at && at != long.MinValue && Stopwatch.GetElapsedTime(at) < management.Value.GaugeInterval;

    private async Task CollectJobsAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            var seen = new HashSet<(string, string)>();
            await using (var command = new NpgsqlCommand(JobsSql, connection))
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    var (kind, state) = (reader.GetString(0), reader.GetString(1));
                    seen.Add((kind, state));
                    Jobs.WithLabels(kind, state).Set(reader.GetInt64(2));
                }
            }

            // Every registered kind's every state is a series from the first scrape, so an alert on
            // failed jobs needs no absent(); a state no job is in any more goes back to 0.
            var zero = JobKinds.All.SelectMany(k => k.States.Select(state => new[] { k.Name, state }))
                .Concat(Jobs.GetAllLabelValues()).Where(l => !seen.Contains((l[0], l[1])));
            foreach (var labels in zero.ToList())
            {
                Jobs.WithLabels(labels).Set(0);
            }

            await using var outbox = new NpgsqlCommand("select count(*) from ingestion.outbox", connection);
            Outbox.Set((long)(await outbox.ExecuteScalarAsync(cancellationToken))!);
        }
        catch (NpgsqlException e)
        {
            LogUnavailable(e, "PostgreSQL");
        }
    }

    private async Task CollectQueuesAsync(CancellationToken cancellationToken)
    {
        using var client = clients.CreateClient(DeadLetterQueues.ManagementClient);
        using var request = new HttpRequestMessage(HttpMethod.Get,
            new Uri($"queues/{Uri.EscapeDataString(rabbit.Value.VirtualHost)}?columns=name,messages", UriKind.Relative));
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            using var response = await client.SendAsync(request, timeout.Token);
            response.EnsureSuccessStatusCode();
            var queues = await response.Content.ReadFromJsonAsync<List<QueueDepth>>(timeout.Token) ?? [];
            foreach (var queue in queues)
            {
                Queues.WithLabels(queue.Name).Set(queue.Messages ?? 0);
            }

            // Queues that are gone (an API instance's own queue goes with it) leave the metric.
            var names = queues.Select(q => q.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var gone in Queues.GetAllLabelValues().Where(l => !names.Contains(l[0])).ToList())
            {
                Queues.RemoveLabelled(gone);
            }
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or System.Text.Json.JsonException)
        {
            LogUnavailable(e, "RabbitMQ's management API");
        }
    }

    private sealed record QueueDepth(string Name, long? Messages);

    [LoggerMessage(LogLevel.Debug, "Metrics: {Source} did not answer; its gauges keep their last values")]
    private partial void LogUnavailable(Exception exception, string source);
}
