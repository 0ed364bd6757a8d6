using System.Diagnostics;
using System.Globalization;
using System.Net;
using Amazon.S3;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Storage;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Ingestion.Workers.Retention;

/// <summary>
/// One retention run, in batches of <c>Retention:BatchSize</c>, each in its own transaction:
/// <list type="number">
/// <item>Documents past their <c>ExpiresAt</c>, of the kinds whose output expires
/// (<see cref="IExpiringDocument"/>): the object is deleted and the job marked
/// (<see cref="IExpiringDocument.DocumentDeletedAt"/>); the job itself stays.</item>
/// <item>Finished jobs older than <c>Retention:Jobs</c>: the objects their kind says they may
/// have left (<see cref="JobKind.ObjectsAsync"/>), then their rows: audit trail, webhook
/// deliveries and attempts, archived failures, the kind's own tables (<see cref="JobKind.Tables"/>),
/// the job, and the tables the kind created for the job alone (<see cref="JobKind.TablePrefixes"/>),
/// dropped in the same transaction.</item>
/// <item>Tables of a declared prefix whose job no longer exists (one purged before this sweep
/// existed, say): dropped too, since nothing else would ever name them again.</item>
/// </list>
/// The rows are locked (<c>FOR UPDATE SKIP LOCKED</c>) while their objects are deleted and
/// change only after every delete succeeded: a crash leaves a row to retry, never an object
/// nothing names. Account attachments are the customer's documents, not a job's output, and
/// the rows loaded into datasets are the customer's data: retention touches neither.
/// </summary>
public sealed partial class JobPurge(
    NpgsqlDataSource dataSource,
    ObjectStore store,
    IOptions<RetentionOptions> options,
    ILogger<JobPurge> logger)
{
    private const int ParallelDeletes = 8;

    /// <summary>The JSON names are those of <see cref="IExpiringDocument"/>'s properties.</summary>
    private const string ExpiredDocumentsSql = $"""
        select {JobRows.Columns} from ingestion.jobs
        where kind = @kind and current_state = @succeeded
          and (data->>'expiresAt')::timestamptz <= now() and data->>'documentDeletedAt' is null
        order by job_id limit @batch
        for update skip locked
        """;

    private const string MarkDeletedSql = """
        update ingestion.jobs set data = jsonb_set(data, '{documentDeletedAt}', to_jsonb(now())), version = version + 1
        where job_id = any(@ids)
        """;

    private const string OldJobsSql = $"""
        select {JobRows.Columns} from ingestion.jobs
        where current_state = any(@finished) and updated_at < now() - @age
          -- never before a document's promised expiry, nor while a webhook is still owed
          and coalesce((data->>'expiresAt')::timestamptz, '-infinity') <= now()
          and not exists (select 1 from ingestion.webhook_deliveries d where d.job_id = jobs.job_id and d.status = 'pending')
        order by updated_at limit @batch
        for update skip locked
        """;

    /// <summary>
    /// Every row that belongs to a job: the tables every job has, and each kind's own. The
    /// names come from code (<see cref="JobKind.Tables"/>), never from input.
    /// </summary>
    private static readonly string DeleteJobsSql = DeleteSql(JobKinds.All.SelectMany(k => k.Tables).Distinct(StringComparer.Ordinal));

    private static readonly string[] Finished = [.. JobKinds.FinalStates];

    /// <summary>From code (<see cref="JobKind.TablePrefixes"/>), never from input, and checked as identifiers.</summary>
    private static readonly string[] TablePrefixes = [.. JobKinds.All.SelectMany(k => k.TablePrefixes).Distinct(StringComparer.Ordinal)
        .Select(p => Identifier.IsValid(p) ? p : throw new InvalidOperationException($"'{p}' is not a table prefix a job kind may declare."))];

    // A job's tables are named its kind's prefix, the job's uuid in hex, then anything. Compared with
    // left(), not LIKE, in which the prefix's '_' would match any character.
    private const string JobTablesSql = """
        select c.relname from pg_class c
        where c.relnamespace = 'ingestion'::regnamespace and c.relkind in ('r', 'p')
          and left(c.relname, @length) = any(@names)
        """;

    private const string OrphanTablesSql = """
        select c.relname from pg_class c
        where c.relnamespace = 'ingestion'::regnamespace and c.relkind in ('r', 'p')
          and left(c.relname, length(@prefix)) = @prefix
          and substr(c.relname, length(@prefix) + 1, 32) ~ '^[0-9a-f]{32}$'
          and not exists (select from ingestion.jobs j where j.job_id = substr(c.relname, length(@prefix) + 1, 32)::uuid)
        order by c.relname limit @batch
        """;

    private readonly RetentionOptions _options = options.Value;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        (int Rows, int Objects) documents = (0, 0);
        foreach (var kind in JobKinds.All.Where(k => k.DocumentExpires))
        {
            var expired = await PurgeAsync("document deleted", ExpiredDocumentsSql, select =>
            {
                select.Parameters.AddWithValue("kind", kind.Name);
                select.Parameters.AddWithValue("succeeded", kind.Succeeded);
            }, DocumentObjects, MarkDeletedSql, cancellationToken);
            documents = (documents.Rows + expired.Rows, documents.Objects + expired.Objects);
        }

        var jobs = await PurgeAsync("purged", OldJobsSql, select =>
        {
            select.Parameters.AddWithValue("finished", Finished);
            select.Parameters.AddWithValue("age", _options.Jobs);
        }, AllObjectsAsync, DeleteJobsSql, cancellationToken, dropJobTables: true);
        var orphans = await DropOrphanTablesAsync(cancellationToken);
        LogPurged(jobs.Rows, documents.Rows, jobs.Objects + documents.Objects, clock.ElapsedMilliseconds);
        if (orphans > 0)
        {
            LogOrphans(orphans);
        }
    }

    /// <summary>Batch after batch until one comes back short: select and lock, delete the objects, change the rows.</summary>
    private async Task<(int Rows, int Objects)> PurgeAsync(string what, string selectSql, Action<NpgsqlCommand> parameters,
        Func<JobState, CancellationToken, ValueTask<IEnumerable<(string Bucket, string Key)>>> objectsOf, string changeSql,
        CancellationToken cancellationToken, bool dropJobTables = false)
    {
        int rows = 0, objects = 0, batch;
        do
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            var jobs = await SelectAsync(connection, selectSql, parameters, cancellationToken);
            batch = jobs.Count;
            if (batch == 0)
            {
                break;
            }

            var keys = new List<(string Bucket, string Key)>();
            foreach (var job in jobs)
            {
                keys.AddRange(await objectsOf(job, cancellationToken));
            }

            await Parallel.ForEachAsync(keys, new ParallelOptions { MaxDegreeOfParallelism = ParallelDeletes, CancellationToken = cancellationToken },
                async (key, token) => await DeleteAsync(key.Bucket, key.Key, token));
            await using (var change = new NpgsqlCommand(changeSql, connection, transaction))
            {
                change.Parameters.AddWithValue("ids", jobs.Select(j => j.CorrelationId).ToArray());
                await change.ExecuteNonQueryAsync(cancellationToken);
            }

            if (dropJobTables)
            {
                await DropJobTablesAsync(connection, jobs.Select(j => j.CorrelationId), cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
            foreach (var job in jobs)
            {
                LogJob(job.CorrelationId, job.TenantId, job.Kind, job.CurrentState, what);
            }

            rows += batch;
            objects += keys.Count;
        }
        while (batch == _options.BatchSize);

        return (rows, objects);
    }

    private async Task<List<JobState>> SelectAsync(NpgsqlConnection connection, string sql, Action<NpgsqlCommand> parameters,
        CancellationToken cancellationToken)
    {
        await using var select = new NpgsqlCommand(sql, connection);
        select.Parameters.AddWithValue("batch", _options.BatchSize);
        parameters(select);

        await using var reader = await select.ExecuteReaderAsync(cancellationToken);
        var found = new List<JobState>();
        while (await reader.ReadAsync(cancellationToken))
        {
            found.Add(JobRows.Read(reader));
        }

        return found;
    }

    /// <summary>Drops the tables the purged jobs' kinds created for them, in the purge's transaction.</summary>
    private async Task DropJobTablesAsync(NpgsqlConnection connection, IEnumerable<Guid> jobIds, CancellationToken cancellationToken)
    {
        var ids = jobIds.Select(id => id.ToString("N", CultureInfo.InvariantCulture)).ToList();
        foreach (var prefix in TablePrefixes)
        {
            await using var select = new NpgsqlCommand(JobTablesSql, connection);
            select.Parameters.AddWithValue("length", prefix.Length + 32);
            select.Parameters.AddWithValue("names", ids.Select(id => prefix + id).ToArray());
            await DropAsync(connection, await NamesAsync(select, cancellationToken), cancellationToken);
        }
    }

    /// <summary>Drops, in batches, tables of a declared prefix whose job is gone; returns how many.</summary>
    private async Task<int> DropOrphanTablesAsync(CancellationToken cancellationToken)
    {
        var dropped = 0;
        foreach (var prefix in TablePrefixes)
        {
            int batch;
            do
            {
                await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
                await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                await using var select = new NpgsqlCommand(OrphanTablesSql, connection, transaction);
                select.Parameters.AddWithValue("prefix", prefix);
                select.Parameters.AddWithValue("batch", _options.BatchSize);
                batch = await DropAsync(connection, await NamesAsync(select, cancellationToken), cancellationToken);
                await transaction.CommitAsync(cancellationToken);
                dropped += batch;
            }
            while (batch == _options.BatchSize);
        }

        return dropped;
    }

    private static async Task<List<string>> NamesAsync(NpgsqlCommand select, CancellationToken cancellationToken)
    {
        var names = new List<string>();
        await using var reader = await select.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            names.Add(reader.GetString(0));
        }

        return names;
    }

    /// <summary>The names come from the catalog, matched to a declared prefix and a uuid; any other shape is left alone.</summary>
    private async Task<int> DropAsync(NpgsqlConnection connection, List<string> names, CancellationToken cancellationToken)
    {
        var dropped = 0;
        foreach (var name in names)
        {
            if (!Identifier.IsValid(name))
            {
                LogOddTable(name);
                continue;
            }

            await using var drop = new NpgsqlCommand($"drop table if exists ingestion.{Identifier.Quote(name)}", connection);
            await drop.ExecuteNonQueryAsync(cancellationToken);
            LogDropped(name);
            dropped++;
        }

        return dropped;
    }

    private ValueTask<IEnumerable<(string Bucket, string Key)>> DocumentObjects(JobState job, CancellationToken cancellationToken) =>
        ValueTask.FromResult<IEnumerable<(string, string)>>(job is IExpiringDocument { DocumentKey: { } key } ? [(store.Bucket, key)] : []);

    private ValueTask<IEnumerable<(string Bucket, string Key)>> AllObjectsAsync(JobState job, CancellationToken cancellationToken) =>
        JobKinds.Of(job).ObjectsAsync(job, store, cancellationToken);

    private static string DeleteSql(IEnumerable<string> jobTables)
    {
        var sql = new System.Text.StringBuilder("""
            with deliveries as (delete from ingestion.webhook_deliveries where job_id = any(@ids) returning id),
                 attempts as (delete from ingestion.webhook_attempts where delivery_id in (select id from deliveries)),
                 events as (delete from ingestion.job_events where job_id = any(@ids)),
                 archived as (delete from ingestion.archived_failures where job_id = any(@ids))
            """);
        foreach (var table in jobTables)
        {
            if (!Identifier.IsValid(table))
            {
                throw new InvalidOperationException($"'{table}' is not a table name a job kind may declare.");
            }

            sql.Append(CultureInfo.InvariantCulture, $",\n     {table} as (delete from ingestion.{table} where job_id = any(@ids))");
        }

        return sql.Append("\ndelete from ingestion.jobs where job_id = any(@ids)").ToString();
    }

    /// <summary>Deleting what is already gone succeeds in S3; a bucket that is gone has nothing left to delete either.</summary>
    private async Task DeleteAsync(string bucket, string key, CancellationToken cancellationToken)
    {
        try
        {
            await store.DeleteAsync(bucket, key, cancellationToken);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            LogGone(bucket, key, e.Message);
        }
    }

    [LoggerMessage(LogLevel.Information, "Retention: job {JobId} of tenant {TenantId} ({Kind}, {State}) {What}")]
    private partial void LogJob(Guid jobId, string tenantId, string kind, string state, string what);

    [LoggerMessage(LogLevel.Information, "Retention purged {Jobs} jobs and {Documents} expired documents ({Objects} objects) in {Milliseconds} ms")]
    private partial void LogPurged(int jobs, int documents, int objects, long milliseconds);

    [LoggerMessage(LogLevel.Information, "Retention dropped {Tables} tables whose job no longer exists")]
    private partial void LogOrphans(int tables);

    [LoggerMessage(LogLevel.Information, "Retention: dropped table ingestion.{Table}")]
    private partial void LogDropped(string table);

    [LoggerMessage(LogLevel.Warning, "Retention: table ingestion.{Table} has a job's prefix but a name it cannot quote; left alone")]
    private partial void LogOddTable(string table);

    [LoggerMessage(LogLevel.Information, "Retention: s3://{Bucket}/{Key} was already gone ({Reason})")]
    private partial void LogGone(string bucket, string key, string reason);
}
