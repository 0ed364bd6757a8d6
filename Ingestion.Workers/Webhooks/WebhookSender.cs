using System.Diagnostics;
using System.Text.Json;
using Ingestion.Platform.Database;
using Ingestion.Platform.Hosting;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Webhooks;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Ingestion.Workers.Webhooks;

/// <summary>
/// Sends the webhooks that are due, from PostgreSQL: woken by NOTIFY when a job ends (or a
/// delivery is redelivered), and otherwise when the next retry falls due or the poll comes
/// round. Every worker runs one; a claim moves a delivery out of the others' reach for the
/// attempt. Each claimed delivery is sent on its own, with its own lease, up to
/// <c>Webhooks:ConcurrentDeliveries</c> at a time: a receiver that takes its time holds one
/// slot, never the deliveries claimed after it. A 2xx delivers; anything else, including a
/// failure before a byte is sent, is a recorded attempt, retried after <c>Webhooks:Backoff</c>,
/// and the delivery gives up after the last wait. Nothing here touches the job: the job ended
/// in the transaction that scheduled the delivery.
/// </summary>
internal sealed class WebhookSender(
    NpgsqlDataSource dataSource,
    WebhookDeliveries deliveries,
    WebhookClient client,
    CallbackGuard guard,
    IOptions<WebhookOptions> options,
    ILogger<WebhookSender> logger) : NotifiedLoop(dataSource, WebhookDeliveries.Channel, logger)
{
    private static readonly TimeSpan MinimumWait = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// How long recording an outcome may take. Not tied to the worker's stopping, so that an
    /// attempt cut short by a shutdown is recorded too.
    /// </summary>
    private static readonly TimeSpan RecordTimeout = TimeSpan.FromSeconds(10);

    private readonly WebhookOptions _settings = options.Value;

    private readonly SemaphoreSlim _slots = new(options.Value.ConcurrentDeliveries, options.Value.ConcurrentDeliveries);

    protected override async Task<TimeSpan> RunAsync(CancellationToken cancellationToken)
    {
        var settings = _settings;
        await deliveries.GiveUpInterruptedAsync(settings.Retries.Count + 1, cancellationToken);
        while (true)
        {
            // While every slot is busy there is nothing to claim for; each attempt frees its own when it ends.
            await _slots.WaitAsync(cancellationToken);
            var free = 1;
            while (free < settings.ConcurrentDeliveries && _slots.Wait(0, CancellationToken.None))
            {
                free++;
            }

            IReadOnlyList<DueWebhook> due;
            try
            {
                due = await deliveries.ClaimDueAsync(free, settings.Lease, cancellationToken);
            }
            catch
            {
                _slots.Release(free);
                throw;
            }

            if (due.Count < free)
            {
                _slots.Release(free - due.Count);
            }

            foreach (var delivery in due)
            {
                _ = Task.Run(() => SendAsync(delivery, cancellationToken), CancellationToken.None);
            }

            if (due.Count < free)
            {
                break;
            }
        }

        var next = await deliveries.NextDueAsync(cancellationToken) ?? settings.PollInterval;
        return next < MinimumWait ? MinimumWait : next > settings.PollInterval ? settings.PollInterval : next;
    }

    /// <summary>Whatever goes wrong with webhooks must not stop the worker, which has jobs to run.</summary>
    protected override bool IsTransient(Exception failure) => true;

    /// <summary>The loop claims nothing more; the attempts under way end (cut short) and are recorded.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(RecordTimeout * 2);
        try
        {
            for (var slot = 0; slot < _settings.ConcurrentDeliveries; slot++)
            {
                await _slots.WaitAsync(deadline.Token);
            }
        }
        catch (OperationCanceledException)
        {
            logger.LogWarning("Webhook attempts still unrecorded at shutdown; their deliveries are due again when their leases end");
        }
    }

    public override void Dispose()
    {
        _slots.Dispose();
        base.Dispose();
    }

    private async Task SendAsync(DueWebhook delivery, CancellationToken stopping)
    {
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["JobId"] = delivery.JobId });
        try
        {
            var (outcome, retryable) = await AttemptAsync(delivery, stopping);
            var retries = _settings.Retries;
            TimeSpan? retryAfter = outcome.Delivered || !retryable || delivery.Attempt > retries.Count ? null : retries[delivery.Attempt - 1];

            // Recorded even when the worker is stopping: an attempt cut short counts like any other.
            using var recording = new CancellationTokenSource(RecordTimeout);
            await deliveries.RecordAsync(delivery, outcome, retryAfter, recording.Token);
            Telemetry.WebhookAttempts.WithLabels(outcome.Delivered ? "delivered" : retryAfter is null ? "gave_up" : "retrying").Inc();
            if (outcome.Delivered)
            {
                logger.LogInformation("Webhook {DeliveryId} delivered on attempt {Attempt} ({StatusCode}, {DurationMs} ms)",
                    delivery.Id, delivery.Attempt, outcome.StatusCode, outcome.DurationMs);
            }
            else
            {
                logger.LogWarning("Webhook {DeliveryId} attempt {Attempt} to {Url} failed: {Error}; {Next}", delivery.Id, delivery.Attempt,
                    delivery.Url, outcome.Error, retryAfter is { } wait ? $"next attempt in {wait}" : "giving up");
            }
        }
#pragma warning disable CA1031 // Nobody awaits this task: what went wrong is logged, and the lease brings the delivery back.
        catch (Exception e)
#pragma warning restore CA1031
        {
            logger.LogError(e, "Webhook {DeliveryId} attempt {Attempt}: the outcome was not recorded; the delivery is due again when its lease ends",
                delivery.Id, delivery.Attempt);
        }
        finally
        {
            _slots.Release();
        }
    }

    /// <summary>One attempt and whether another could help; every failure, before or after sending, is an outcome.</summary>
    private async Task<(WebhookOutcome Outcome, bool Retryable)> AttemptAsync(DueWebhook delivery, CancellationToken stopping)
    {
        var at = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        WebhookOutcome Failed(string error) => new(at, null, error, (int)clock.ElapsedMilliseconds);

        if (guard.SecretOf(delivery.TenantId) is not { } secret)
        {
            // Refused at request time; reachable only if the secret was removed since. Retrying cannot help.
            return (Failed($"not sent: tenant '{delivery.TenantId}' has no webhook secret to sign it with"), false);
        }

        if (!CallbackUrl.TryValidate(delivery.Url, out var problem) || !Uri.TryCreate(delivery.Url, UriKind.Absolute, out var url))
        {
            // Only a job submitted on the bus, whose URL no API checked, can get here. Retrying cannot help.
            return (Failed($"not sent: the callback URL {problem}"), false);
        }

        byte[] body;
        try
        {
            body = Body(delivery.Payload);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or ArgumentException)
        {
            return (Failed($"not sent: the payload could not be built ({e.Message})"), true);
        }

        try
        {
            return (await client.SendAsync(url, body, secret, delivery.Id, delivery.Attempt, stopping), true);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            return (Failed("interrupted: the worker stopped during the attempt"), true);
        }
#pragma warning disable CA1031 // An attempt that throws is a failed attempt, recorded, never a delivery claimed again and again.
        catch (Exception e)
#pragma warning restore CA1031
        {
            return (Failed($"not sent: {e.GetType().Name}: {e.Message}"), true);
        }
    }

    /// <summary>
    /// The body as receivers see it: the stored payload written again in its declared property
    /// order (jsonb keeps keys in its own order). The same bytes on every attempt.
    /// </summary>
    internal static byte[] Body(string storedPayload) =>
        JsonSerializer.SerializeToUtf8Bytes(JsonSerializer.Deserialize<WebhookPayload>(storedPayload, WebhookPayload.Json),
            WebhookPayload.Json);
}
