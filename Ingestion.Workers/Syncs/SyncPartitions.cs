using Ingestion.Contracts.Syncs;
using Npgsql;

namespace Ingestion.Workers.Syncs;

/// <summary>A partition's checkpoint, as committed with its last page (<c>ingestion.sync_partitions</c>).</summary>
public sealed record SyncPartition(
    int Index,
    PagePosition Position,
    bool Started,
    bool Finished,
    DateTimeOffset? HighWater,
    DateTimeOffset? LowWater,
    bool? Descending,
    long Pages,
    int CursorResumes);

/// <summary>The partitions of a sync job: planned once, then each moved only with a committed page.</summary>
public static class SyncPartitions
{
    private const string SelectSql = """
        select partition, next_page, since, until, started, finished, high_water, low_water, descending, pages, cursor_resumes
        from ingestion.sync_partitions where job_id = @job order by partition
        """;

    private const string CountsSql = """
        select coalesce(sum(requests), 0)::bigint, coalesce(sum(records), 0)::bigint, coalesce(sum(loaded), 0)::bigint,
               coalesce(sum(duplicates), 0)::bigint, coalesce(sum(rejects), 0)::bigint, coalesce(sum(http_429), 0)::bigint,
               sum(expected_total)::bigint, count(*) filter (where expected_total is null)
        from ingestion.sync_partitions where job_id = @job
        """;

    public static async Task<IReadOnlyList<SyncPartition>> ReadAsync(NpgsqlConnection connection, Guid jobId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(SelectSql, connection);
        command.Parameters.AddWithValue("job", jobId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var partitions = new List<SyncPartition>();
        while (await reader.ReadAsync(cancellationToken))
        {
            partitions.Add(new SyncPartition(
                reader.GetInt32(0),
                new PagePosition(reader.IsDBNull(1) ? null : reader.GetString(1), Time(reader, 2), Time(reader, 3)),
                reader.GetBoolean(4),
                reader.GetBoolean(5),
                Time(reader, 6),
                Time(reader, 7),
                reader.IsDBNull(8) ? null : reader.GetBoolean(8),
                reader.GetInt64(9),
                reader.GetInt32(10)));
        }

        return partitions;
    }

    /// <summary>Plans the partitions, once: a second planner (a duplicate delivery after a crash) adds nothing.</summary>
    public static async Task PlanAsync(NpgsqlConnection connection, Guid jobId, IReadOnlyList<(DateTimeOffset? Since, DateTimeOffset? Until)> ranges,
        CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection);
        for (var i = 0; i < ranges.Count; i++)
        {
            var insert = new NpgsqlBatchCommand("""
                insert into ingestion.sync_partitions (job_id, partition, since, until) values (@job, @partition, @since, @until)
                on conflict do nothing
                """);
            insert.Parameters.AddWithValue("job", jobId);
            insert.Parameters.AddWithValue("partition", i);
            insert.Parameters.AddWithValue("since", (object?)ranges[i].Since ?? DBNull.Value);
            insert.Parameters.AddWithValue("until", (object?)ranges[i].Until ?? DBNull.Value);
            batch.BatchCommands.Add(insert);
        }

        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// The job's counts, from committed checkpoints only. The expected total is the sum of the
    /// partitions' once every partition has reported one (a partial sum would understate it).
    /// </summary>
    public static async Task<SyncCounts> CountsAsync(NpgsqlConnection connection, Guid jobId, double budgetShare, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(CountsSql, connection);
        command.Parameters.AddWithValue("job", jobId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        long? expected = reader.IsDBNull(6) || reader.GetInt64(7) > 0 ? null : reader.GetInt64(6);
        return new SyncCounts(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4),
            reader.GetInt64(5), expected, budgetShare);
    }

    private static DateTimeOffset? Time(NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetFieldValue<DateTimeOffset>(ordinal);
}
