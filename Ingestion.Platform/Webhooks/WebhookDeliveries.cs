using System.Text.Json;
using Ingestion.Platform.Jobs;
using MassTransit;
using Npgsql;
using NpgsqlTypes;

namespace Ingestion.Platform.Webhooks;

public sealed record WebhookAttempt(int Attempt, DateTimeOffset At, int? StatusCode, string? Error, int DurationMs);

public sealed record WebhookDelivery(Guid Id, string Url, string Status, int Attempts, DateTimeOffset NextAttemptAt,
    JsonElement Payload, IReadOnlyList<WebhookAttempt> History);

/// <summary>A delivery a worker has claimed for its attempt number <see cref="Attempt"/>.</summary>
public sealed record DueWebhook(Guid Id, Guid JobId, string TenantId, string Url, string Payload, int Attempt);

/// <summary>How one attempt ended: an HTTP status, or an error before there was one.</summary>
public sealed record WebhookOutcome(DateTimeOffset At, int? StatusCode, string? Error, int DurationMs)
{
    public bool Delivered => StatusCode is >= 200 and < 300;
}

public static class WebhookStatus
{
    public const string Pending = "pending";
    public const string Delivered = "delivered";
    public const string GaveUp = "gave_up";
}

/// <summary>
/// The webhooks a job owes, in PostgreSQL: scheduled in the transaction that ends the job,
/// sent when due by any worker, every attempt recorded. Nothing about them is in memory, so
/// a restart loses none and a delay of hours is a timestamp.
/// </summary>
public sealed class WebhookDeliveries(NpgsqlDataSource dataSource)
{
    public const string Channel = "ingestion_webhooks";

    private const string ScheduleSql = """
        insert into ingestion.webhook_deliveries (id, job_id, tenant_id, url, payload) values (@id, @job, @tenant, @url, @payload)
        """;

    private const string ListSql = """
        select d.id, d.url, d.status, d.attempts, d.next_attempt_at, d.payload::text,
               coalesce(json_agg(json_build_object('attempt', a.attempt, 'at', a.at, 'statusCode', a.status_code,
                   'error', a.error, 'durationMs', a.duration_ms) order by a.attempt) filter (where a.attempt is not null), '[]')::text
        from ingestion.webhook_deliveries d left join ingestion.webhook_attempts a on a.delivery_id = d.id
        where d.job_id = @job group by d.id order by d.created_at
        """;

    // One statement, committed at once: the claimed rows move out of reach for the lease, so
    // no other worker sends them meanwhile, and a worker that dies leaves them to be claimed again.
    private const string ClaimSql = """
        update ingestion.webhook_deliveries d
        set attempts = d.attempts + 1, next_attempt_at = now() + @lease, updated_at = now()
        where d.id in (select id from ingestion.webhook_deliveries
                       where status = 'pending' and next_attempt_at <= now()
                       order by next_attempt_at limit @limit for update skip locked)
        returning d.id, d.job_id, d.tenant_id, d.url, d.payload::text, d.attempts
        """;

    // A worker that died during an attempt recorded nothing; its lease ends and the delivery is due
    // again. When that was the last attempt allowed, the delivery gives up here, with a line that
    // says so, instead of being tried beyond the configured count. (A redelivered delivery has its
    // earlier attempts recorded and is not touched.)
    private const string GiveUpInterruptedSql = """
        with lapsed as (
            update ingestion.webhook_deliveries d set status = 'gave_up', updated_at = now()
            where d.status = 'pending' and d.next_attempt_at <= now() and d.attempts >= @attempts
              and not exists (select from ingestion.webhook_attempts a where a.delivery_id = d.id and a.attempt = d.attempts)
            returning d.id, d.attempts)
        insert into ingestion.webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms)
        select id, attempts, now(), null, 'no outcome: the worker making this attempt stopped before recording it', 0 from lapsed
        on conflict do nothing
        """;

    private const string AttemptSql = """
        insert into ingestion.webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms)
        values (@id, @attempt, @at, @code, @error, @duration) on conflict do nothing
        """;

    // Fenced on the attempt: if the lease ran out and another worker claimed the row, its attempt decides.
    private const string SettleSql = """
        update ingestion.webhook_deliveries set status = @status, next_attempt_at = now() + @delay, updated_at = now()
        where id = @id and attempts = @attempt and status = 'pending'
        """;

    private const string NextDueSql = """
        select extract(epoch from min(next_attempt_at) - now()) from ingestion.webhook_deliveries where status = 'pending'
        """;

    private const string RedeliverSql = """
        update ingestion.webhook_deliveries set status = 'pending', next_attempt_at = now(), updated_at = now()
        where id = @id and job_id = @job and status = 'gave_up'
        """;

    /// <summary>Inside the caller's transaction: the webhook exists exactly when the job's end does.</summary>
    public static async Task ScheduleAsync(NpgsqlConnection connection, JobState job, CancellationToken cancellationToken)
    {
        await using var insert = new NpgsqlCommand(ScheduleSql, connection);
        insert.Parameters.AddWithValue("id", NewId.NextGuid());
        insert.Parameters.AddWithValue("job", job.CorrelationId);
        insert.Parameters.AddWithValue("tenant", job.TenantId);
        insert.Parameters.AddWithValue("url", job.CallbackUrl!);
        insert.Parameters.AddWithValue("payload", NpgsqlDbType.Jsonb, JsonSerializer.Serialize(WebhookPayload.For(job), WebhookPayload.Json));
        await insert.ExecuteNonQueryAsync(cancellationToken);
        await using var notify = new NpgsqlCommand($"notify {Channel}", connection);
        await notify.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<WebhookDelivery>> ForJobAsync(Guid jobId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ListSql);
        command.Parameters.AddWithValue("job", jobId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var deliveries = new List<WebhookDelivery>();
        while (await reader.ReadAsync(cancellationToken))
        {
            deliveries.Add(new WebhookDelivery(reader.GetGuid(0), reader.GetString(1), reader.GetString(2), reader.GetInt32(3),
                reader.GetFieldValue<DateTimeOffset>(4), JsonDocument.Parse(reader.GetString(5)).RootElement,
                JsonSerializer.Deserialize<List<WebhookAttempt>>(reader.GetString(6), WebhookPayload.Json)!));
        }

        return deliveries;
    }

    /// <summary>Claims up to <paramref name="limit"/> due deliveries for one attempt each, held for <paramref name="lease"/>.</summary>
    public async Task<IReadOnlyList<DueWebhook>> ClaimDueAsync(int limit, TimeSpan lease, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ClaimSql);
        command.Parameters.AddWithValue("limit", limit);
        command.Parameters.AddWithValue("lease", lease);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var due = new List<DueWebhook>();
        while (await reader.ReadAsync(cancellationToken))
        {
            due.Add(new DueWebhook(reader.GetGuid(0), reader.GetGuid(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                reader.GetInt32(5)));
        }

        return due;
    }

    /// <summary>Gives up the deliveries whose last allowed attempt (<paramref name="attempts"/>) was claimed but never recorded.</summary>
    public async Task GiveUpInterruptedAsync(int attempts, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(GiveUpInterruptedSql);
        command.Parameters.AddWithValue("attempts", attempts);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Records the attempt and what follows from it, together: delivered, given up, or due
    /// again after <paramref name="retryAfter"/> (null gives up).
    /// </summary>
    public async Task RecordAsync(DueWebhook delivery, WebhookOutcome outcome, TimeSpan? retryAfter, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var attempt = new NpgsqlCommand(AttemptSql, connection, transaction))
        {
            attempt.Parameters.AddWithValue("id", delivery.Id);
            attempt.Parameters.AddWithValue("attempt", delivery.Attempt);
            attempt.Parameters.AddWithValue("at", outcome.At);
            attempt.Parameters.AddWithValue("code", (object?)outcome.StatusCode ?? DBNull.Value);
            attempt.Parameters.AddWithValue("error", (object?)outcome.Error ?? DBNull.Value);
            attempt.Parameters.AddWithValue("duration", outcome.DurationMs);
            await attempt.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var settle = new NpgsqlCommand(SettleSql, connection, transaction))
        {
            settle.Parameters.AddWithValue("id", delivery.Id);
            settle.Parameters.AddWithValue("attempt", delivery.Attempt);
            settle.Parameters.AddWithValue("status",
                outcome.Delivered ? WebhookStatus.Delivered : retryAfter is null ? WebhookStatus.GaveUp : WebhookStatus.Pending);
            settle.Parameters.AddWithValue("delay", retryAfter ?? TimeSpan.Zero);
            await settle.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>How long until the next pending delivery is due (zero or less: now), or null when none is pending.</summary>
    public async Task<TimeSpan?> NextDueAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(NextDueSql);
        return await command.ExecuteScalarAsync(cancellationToken) is decimal seconds
            ? TimeSpan.FromSeconds((double)seconds)
            : null;
    }

    /// <summary>
    /// Makes a delivery that gave up due again, for one more attempt, and records who asked in
    /// the job's audit trail; false when there is no such delivery or it had not given up.
    /// </summary>
    public async Task<bool> RedeliverAsync(Guid jobId, Guid deliveryId, string actor, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var update = new NpgsqlCommand(RedeliverSql, connection, transaction);
        update.Parameters.AddWithValue("id", deliveryId);
        update.Parameters.AddWithValue("job", jobId);
        if (await update.ExecuteNonQueryAsync(cancellationToken) == 0)
        {
            return false;
        }

        await JobHistory.ActionAsync(connection, jobId, $"RedeliverWebhook {deliveryId}", actor, cancellationToken);
        await using var notify = new NpgsqlCommand($"notify {Channel}", connection, transaction);
        await notify.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return true;
    }
}
