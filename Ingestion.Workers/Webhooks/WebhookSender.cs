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
/// attempt. A 2xx delivers; anything else is retried after <c>Webhooks:Backoff</c>, and the
/// delivery gives up after the last wait. Nothing here touches the job: the job ended in
/// the transaction that scheduled the delivery.
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

    protected override async Task<TimeSpan> RunAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        while (await SendDueAsync(cancellationToken) == settings.ConcurrentDeliveries)
        {
        }

        var next = await deliveries.NextDueAsync(cancellationToken) ?? settings.PollInterval;
        return next < MinimumWait ? MinimumWait : next > settings.PollInterval ? settings.PollInterval : next;
    }

    /// <summary>Whatever goes wrong with webhooks must not stop the worker, which has jobs to run.</summary>
    protected override bool IsTransient(Exception failure) => true;

    private async Task<int> SendDueAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var due = await deliveries.ClaimDueAsync(settings.ConcurrentDeliveries, settings.Lease, cancellationToken);
        await Task.WhenAll(due.Select(d => AttemptAsync(d, cancellationToken)));
        return due.Count;
    }

    private async Task AttemptAsync(DueWebhook delivery, CancellationToken cancellationToken)
    {
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["JobId"] = delivery.JobId });
        WebhookOutcome outcome;
        TimeSpan? retryAfter;
        if (guard.SecretOf(delivery.TenantId) is not { } secret)
        {
            // Refused at request time; reachable only if the secret was removed since. Retrying cannot help.
            outcome = new WebhookOutcome(DateTimeOffset.UtcNow, null,
                $"not sent: tenant '{delivery.TenantId}' has no webhook secret to sign it with", 0);
            retryAfter = null;
        }
        else if (!CallbackUrl.TryValidate(delivery.Url, out var problem) || !Uri.TryCreate(delivery.Url, UriKind.Absolute, out var url))
        {
            // Only a job submitted on the bus, whose URL no API checked, can get here. Retrying cannot help.
            outcome = new WebhookOutcome(DateTimeOffset.UtcNow, null, $"not sent: the callback URL {problem}", 0);
            retryAfter = null;
        }
        else
        {
            outcome = await client.SendAsync(url, Body(delivery.Payload), secret, delivery.Id, delivery.Attempt, cancellationToken);
            var retries = options.Value.Retries;
            retryAfter = outcome.Delivered || delivery.Attempt > retries.Count ? null : retries[delivery.Attempt - 1];
        }

        await deliveries.RecordAsync(delivery, outcome, retryAfter, cancellationToken);
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

    /// <summary>
    /// The body as receivers see it: the stored payload written again in its declared property
    /// order (jsonb keeps keys in its own order). The same bytes on every attempt.
    /// </summary>
    internal static byte[] Body(string storedPayload) =>
        JsonSerializer.SerializeToUtf8Bytes(JsonSerializer.Deserialize<WebhookPayload>(storedPayload, WebhookPayload.Json),
            WebhookPayload.Json);
}
