using System.Text.Json;
using Npgsql;
using NpgsqlTypes;

namespace Ingestion.Platform.Jobs;

/// <summary>One line of a job's audit trail.</summary>
public sealed record JobEvent(long Id, DateTimeOffset At, string Type, int? Version, string? From, string? To, string What, string Actor);

/// <summary>
/// A job's audit trail (<c>ingestion.job_events</c>): its state machine writes the transitions,
/// the API writes the operator actions and the creation of the jobs it accepts, each in the
/// transaction that does the thing recorded.
/// </summary>
public sealed class JobHistory(NpgsqlDataSource dataSource)
{
    private const string InsertSql = """
        insert into ingestion.job_events (job_id, version, type, from_state, to_state, what, actor, snapshot)
        values (@job, @version, @type, @from, @to, @what, @actor, @snapshot)
        """;

    private const string ListSql = """
        select id, at, type, version, from_state, to_state, what, actor from ingestion.job_events
        where job_id = @job order by id
        """;

    private const string TransitionsAfterSql = """
        select snapshot::text from ingestion.job_events
        where job_id = @job and type = 'transition' and version > @after order by version
        """;

    /// <summary>The creation of a job, as its first transition, inside the caller's transaction.</summary>
    /// <param name="stored">The job as its row stores it (<see cref="JobRows.Bind"/>).</param>
    public static Task CreatedAsync(NpgsqlConnection connection, JobState job, string stored, string what, string actor,
        CancellationToken cancellationToken) =>
        InsertAsync(connection, job.CorrelationId, job.Version, "transition", "Initial", job.CurrentState, what, actor, stored,
            cancellationToken);

    /// <summary>An operator action (a retry or cancel asked for), inside the caller's transaction.</summary>
    public static Task ActionAsync(NpgsqlConnection connection, Guid jobId, string what, string actor, CancellationToken cancellationToken) =>
        InsertAsync(connection, jobId, null, "action", null, null, what, actor, null, cancellationToken);

    public async Task<IReadOnlyList<JobEvent>> ListAsync(Guid jobId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ListSql);
        command.Parameters.AddWithValue("job", jobId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var events = new List<JobEvent>();
        while (await reader.ReadAsync(cancellationToken))
        {
            events.Add(new JobEvent(reader.GetInt64(0), reader.GetFieldValue<DateTimeOffset>(1), reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetInt32(3), reader.IsDBNull(4) ? null : reader.GetString(4),
                reader.IsDBNull(5) ? null : reader.GetString(5), reader.GetString(6), reader.GetString(7)));
        }

        return events;
    }

    /// <summary>The job as it was at each transition after <paramref name="version"/>: what a reconnecting client missed.</summary>
    public async Task<IReadOnlyList<JobState>> TransitionsAfterAsync(Guid jobId, string kind, int version, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(TransitionsAfterSql);
        command.Parameters.AddWithValue("job", jobId);
        command.Parameters.AddWithValue("after", version);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var states = new List<JobState>();
        while (await reader.ReadAsync(cancellationToken))
        {
            states.Add(JobSerializer.Deserialize(kind, reader.GetString(0)));
        }

        return states;
    }

    private static async Task InsertAsync(NpgsqlConnection connection, Guid jobId, int? version, string type, string? from, string? to,
        string what, string actor, string? snapshot, CancellationToken cancellationToken)
    {
        await using var insert = new NpgsqlCommand(InsertSql, connection);
        insert.Parameters.AddWithValue("job", jobId);
        insert.Parameters.AddWithValue("version", (object?)version ?? DBNull.Value);
        insert.Parameters.AddWithValue("type", type);
        insert.Parameters.AddWithValue("from", (object?)from ?? DBNull.Value);
        insert.Parameters.AddWithValue("to", (object?)to ?? DBNull.Value);
        insert.Parameters.AddWithValue("what", what);
        insert.Parameters.AddWithValue("actor", actor);
        insert.Parameters.Add(new NpgsqlParameter("snapshot", NpgsqlDbType.Jsonb) { Value = (object?)snapshot ?? DBNull.Value });
        await insert.ExecuteNonQueryAsync(cancellationToken);
    }
}
