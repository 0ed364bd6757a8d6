using System.Text.Json;
using Ingestion.Contracts.Jobs;
using Ingestion.Platform.Hosting;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Webhooks;
using MassTransit;
using Npgsql;
using NpgsqlTypes;

namespace Ingestion.Workers.Sagas;

/// <summary>
/// What every committed change of a job brings with it, in the same transaction: a
/// transition goes into the audit trail (who, when, from what to what, and the job as it was),
/// a job that ends owes its webhook; and every change is announced to the API instances
/// (through the saga endpoint's outbox, so only once the transaction has committed).
/// </summary>
internal static class JobChangeRecorder
{
    private const string TransitionSql = """
        insert into ingestion.job_events (job_id, version, type, from_state, to_state, what, actor, snapshot)
        values (@job, @version, 'transition', @from, @to, @what, @actor, @snapshot)
        """;

    /// <param name="stored">The job as its row now stores it.</param>
    /// <param name="message">The message the change is the consequence of.</param>
    public static async Task RecordAsync(NpgsqlConnection connection, string fromState, JobState job, string stored, object message,
        IPublishEndpoint events, CancellationToken cancellationToken)
    {
        if (fromState != job.CurrentState)
        {
            await using var insert = new NpgsqlCommand(TransitionSql, connection);
            insert.Parameters.AddWithValue("job", job.CorrelationId);
            insert.Parameters.AddWithValue("version", job.Version);
            insert.Parameters.AddWithValue("from", fromState);
            insert.Parameters.AddWithValue("to", job.CurrentState);
            insert.Parameters.AddWithValue("what", What(message));
            insert.Parameters.AddWithValue("actor", (message as IRequested)?.RequestedBy ?? "system");
            insert.Parameters.AddWithValue("snapshot", NpgsqlDbType.Jsonb, stored);
            await insert.ExecuteNonQueryAsync(cancellationToken);

            if (job.IsFinished && job.CallbackUrl is not null)
            {
                await WebhookDeliveries.ScheduleAsync(connection, job, cancellationToken);
            }
        }

        await events.Publish(new JobChanged(job.CorrelationId, job.TenantId, job.Kind, job.Version, job.CurrentState, stored,
            job.UpdatedAt), cancellationToken);
    }

    /// <summary>Counts a committed transition, and how long a job took when it ended.</summary>
    public static void Observe(string fromState, JobState job, string state)
    {
        if (fromState == state)
        {
            return;
        }

        Telemetry.Transitions.WithLabels(job.Kind, state).Inc();
        if (job.IsFinished)
        {
            var end = job.CompletedAt ?? job.UpdatedAt;
            Telemetry.JobDuration.WithLabels(job.Kind, state).Observe(Math.Max(0, (end - job.CreatedAt).TotalSeconds));
        }
    }

    /// <summary>The message type behind the change, as readers of the trail know it (Fault&lt;ProcessUpload&gt; included).</summary>
    private static string What(object message)
    {
        var type = message.GetType();
        return type.IsGenericType
            ? $"{type.Name[..type.Name.IndexOf('`', StringComparison.Ordinal)]}<{string.Join(", ", type.GenericTypeArguments.Select(t => t.Name))}>"
            : type.Name;
    }
}
