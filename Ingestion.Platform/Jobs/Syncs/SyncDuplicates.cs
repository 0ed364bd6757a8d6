using System.Text.Json;
using Npgsql;

namespace Ingestion.Platform.Jobs;

/// <summary>A key a sync found already loaded: how many of its records had it, and where they were.</summary>
/// <param name="Key">The dataset's key columns and their values, as JSON.</param>
/// <param name="Times">Records of this job that carried the key when it was already loaded (by the job or before it).</param>
/// <param name="Places">Where those records were, in the order read (the first <see cref="SyncDuplicates.MaxPlaces"/>).</param>
public sealed record SyncDuplicateKey(JsonElement Key, long Times, IReadOnlyList<SyncDuplicatePlace> Places);

/// <param name="Partition">The sync's partition (0 when it has one).</param>
/// <param name="Page">The page of that partition, from 1.</param>
/// <param name="Record">The record's number in the partition, from 1 (as the rejects file numbers it).</param>
public sealed record SyncDuplicatePlace(int Partition, long Page, long Record);

/// <summary>
/// The keys behind a sync's duplicates (<c>ingestion.sync_duplicate_keys</c>, migration 0027): the
/// page loader records them in the page's transaction, the job view shows them in the reconciliation.
/// Bounded per job, so a sync that meets its whole dataset again (a second full sync) keeps 100 keys, not millions.
/// </summary>
public class SyncDuplicates(NpgsqlDataSource db)
{
    /// <summary>Distinct keys kept per job: the first ones met, in the order their partitions committed them.</summary>
    public const int MaxKeys = 100;

    /// <summary>Places kept per key; <see cref="SyncDuplicateKey.Times"/> goes on counting past them.</summary>
    public const int MaxPlaces = 10;

    private const string ReadSql = """
        select key::text, times, places::text from ingestion.sync_duplicate_keys where job_id = @job order by first_place, key
        """;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The job's recorded keys, in the order they were first met (partition, then record).</summary>
    public virtual async Task<IReadOnlyList<SyncDuplicateKey>> ReadAsync(Guid jobId, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(ReadSql);
        command.Parameters.AddWithValue("job", jobId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var keys = new List<SyncDuplicateKey>();
        while (await reader.ReadAsync(cancellationToken))
        {
            keys.Add(new SyncDuplicateKey(
                JsonSerializer.Deserialize<JsonElement>(reader.GetString(0)),
                reader.GetInt64(1),
                JsonSerializer.Deserialize<List<SyncDuplicatePlace>>(reader.GetString(2), Json)!));
        }

        return keys;
    }
}
