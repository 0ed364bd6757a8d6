using System.Text.Json;
using Ingestion.Platform.Jobs;
using MassTransit;
using Npgsql;
using NpgsqlTypes;

namespace Ingestion.Platform.Webhooks;

public sealed record WebhookAttempt(int Attempt, DateTimeOffset At, int? StatusCode, string? Error, int DurationMs);

public sealed record WebhookDelivery(Guid Id, string Url, string Status, int Attempts, DateTimeOffset NextAttemptAt,
    JsonElement Payload, IReadOnlyList<WebhookAttempt> History);

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
}
