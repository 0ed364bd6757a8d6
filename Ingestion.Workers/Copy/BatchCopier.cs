using System.Diagnostics;
using Ingestion.Platform.Datasets;
using Ingestion.Workers.Csv;
using Ingestion.Workers.Uploads;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace Ingestion.Workers.Copy;

/// <summary>Where a batch's good rows go (see <see cref="BatchCopier"/>).</summary>
internal enum BatchMode
{
    Direct,
    Staged,
    Kept,
}

/// <summary>
/// What one batch did, where the next one starts, and which accounts it wrote (transactions only); and, for a
/// chunk whose staged batch met a later chunk's rows, the chunks it evicted (their accounts are among the batch's).
/// </summary>
internal sealed record BatchResult(long Loaded, long Rejected, long EndOffset, long EndLine, bool EndOfFile,
    IReadOnlyCollection<long>? Accounts, Eviction? Evicted = null);

/// <summary>
/// Streams one batch of records (of any format: <see cref="IUploadRecords"/>) into PostgreSQL with binary COPY, inside the
/// caller's transaction: rows as they are read (reading waits while PostgreSQL takes them), rejects
/// with their line and reason. Two modes:
/// <list type="bullet">
/// <item><b>direct</b>: COPY into the table itself. A key collision makes PostgreSQL refuse
/// the whole COPY (unique violation); the caller then rolls back and redoes the batch staged.</item>
/// <item><b>staged</b>: COPY into a temporary table, turn rows whose key repeats within the
/// batch or already exists into rejects (or upsert them), and insert the rest.</item>
/// <item><b>kept</b>: COPY into the target's stage table (a chunk's, <see cref="CopyTarget"/>) and
/// decide nothing: the chunk's rows are applied to the table later, in file order.</item>
/// </list>
/// A chunk of a keyed job loaded in parallel passes its <c>eviction</c>: a staged batch of it first
/// evicts the later chunks that hold its keys (<see cref="ChunkEviction"/>), then decides its rows.
/// </summary>
internal sealed class BatchCopier(CopyTarget target, UploadProcessingOptions options, ILogger logger,
    ChunkEviction? eviction = null)
{
    private const string CopyRejectsSql =
        "copy ingestion.upload_rejects (job_id, line, column_name, reason, raw) from stdin (format binary)";

    private readonly List<(long Line, string? Column, string Reason, byte[] Raw)> _rejects = [];
    private byte[] _raw = new byte[4096];

    private long _rejectBytes;

    /// <summary>Distinct accounts of the batch's rows: at most one entry per row of a batch.</summary>
    private readonly HashSet<long> _accounts = [];

    public Task<BatchResult> CopyAsync(NpgsqlConnection connection, IUploadRecords records, Checkpoint from, bool staged,
        CancellationToken cancellationToken) =>
        CopyAsync(connection, records, from.JobId, from.ByteOffset, from.Line, staged ? BatchMode.Staged : BatchMode.Direct,
            cancellationToken);

    public async Task<BatchResult> CopyAsync(NpgsqlConnection connection, IUploadRecords records, Guid jobId, long fromOffset,
        long fromLine, BatchMode mode, CancellationToken cancellationToken)
    {
        _rejects.Clear();
        _rejectBytes = 0;
        _accounts.Clear();
        long rows = 0;
        var endOffset = fromOffset;
        var endLine = fromLine;
        var endOfFile = false;
        var staged = mode != BatchMode.Direct;
        if (staged)
        {
            await ExecuteAsync(connection, target.CreateStageSql, cancellationToken);
        }

        await using (var copy = await BinaryCopyRows.BeginAsync(connection, staged ? target.StageCopySql : target.CopySql,
                         logger, cancellationToken))
        {
            var fields = target.Columns + (staged ? 2 : 0);
            var started = Stopwatch.GetTimestamp();
            var read = 0;
            while (true)
            {
                if (!records.Read())
                {
                    endOfFile = true;
                    break;
                }

                read++;
                if (records.Check() is { } problem)
                {
                    var kept = RejectedRecord.Keep(records.Raw, options.RejectedRecordBytes);
                    _rejects.Add((records.Line, problem.Column, problem.Reason, kept));
                    _rejectBytes += kept.Length + problem.Reason.Length;
                }
                else
                {
                    copy.StartRow(fields);
                    records.Write(copy);
                    if (target.AccountSlot >= 0)
                    {
                        _accounts.Add(records.IntegerAt(target.AccountSlot));
                    }
                    if (staged)
                    {
                        copy.WriteInt64(records.Line);
                        copy.WriteBytes(RawRecord(records));
                    }

                    rows++;
                    await copy.FlushIfFullAsync(cancellationToken);
                }

                (endOffset, endLine) = records.End;
                if (read >= options.BatchRows || _rejects.Count >= options.MaxRejectsPerBatch
                    || _rejectBytes >= options.MaxRejectBytesPerBatch)
                {
                    break;
                }

                if ((read & 1023) == 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (Stopwatch.GetElapsedTime(started) >= options.BatchInterval)
                    {
                        break;
                    }
                }
            }

            await copy.CompleteAsync(cancellationToken);
        }

        var rejected = await WriteRejectsAsync(connection, jobId, cancellationToken);
        var loaded = rows;
        Eviction? evicted = null;
        if (mode == BatchMode.Staged)
        {
            await ExecuteAsync(connection, $"analyze {target.StageName}", cancellationToken);
            if (target.Dataset.OnKeyConflict == KeyConflictPolicy.Upsert)
            {
                if (target.DisplacedAccountsSql.Length > 0)
                {
                    await AddAccountsAsync(connection, target.DisplacedAccountsSql, cancellationToken);
                }

                await ExecuteAsync(connection, target.UpsertFromStageSql, cancellationToken);
            }
            else
            {
                rejected += await RejectAsync(connection, target, target.RejectDuplicatesInFileSql, jobId, cancellationToken);
                if (eviction is not null)
                {
                    evicted = await eviction.EvictLaterChunksAsync(connection, target, cancellationToken);
                    _accounts.UnionWith(evicted.Accounts);
                }

                // A later chunk that commits one of the keys after the eviction looked must not turn the earlier line
                // into a reject: with an eviction, its rows are left to the insert, whose unique violation redoes this batch.
                rejected += eviction is null
                    ? await RejectAsync(connection, target, target.RejectExistingKeysSql, jobId, cancellationToken)
                    : await RejectAsync(connection, target, target.RejectKeysBeforeLaterChunksSql, jobId, cancellationToken,
                        eviction.Chunk);
                loaded = await ExecuteAsync(connection, target.InsertFromStageSql, cancellationToken);
            }
        }

        return new BatchResult(loaded, rejected, endOffset, endLine, endOfFile, target.AccountSlot >= 0 ? _accounts : null, evicted);
    }

    /// <summary>Adds the accounts a query names to the batch's, for their change counters.</summary>
    private async Task AddAccountsAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            _accounts.Add(reader.GetInt64(0));
        }
    }

    /// <summary>A staged row's record, kept as a reject would be if its key turns it into one.</summary>
    private ReadOnlySpan<byte> RawRecord(IUploadRecords records)
    {
        var raw = records.Raw;
        var room = Math.Min(raw.Length, options.RejectedRecordBytes) + RejectedRecord.MaxMarkerBytes;
        if (_raw.Length < room)
        {
            _raw = new byte[Math.Max(room, _raw.Length * 2)];
        }

        return _raw.AsSpan(0, RejectedRecord.Write(raw, options.RejectedRecordBytes, _raw));
    }

    private async Task<long> WriteRejectsAsync(NpgsqlConnection connection, Guid jobId, CancellationToken cancellationToken)
    {
        if (_rejects.Count == 0)
        {
            return 0;
        }

        await using var importer = await connection.BeginBinaryImportAsync(CopyRejectsSql, cancellationToken);
        foreach (var (line, column, reason, raw) in _rejects)
        {
            await importer.StartRowAsync(cancellationToken);
            await importer.WriteAsync(jobId, NpgsqlDbType.Uuid, cancellationToken);
            await importer.WriteAsync(line, NpgsqlDbType.Bigint, cancellationToken);
            if (column is null)
            {
                await importer.WriteNullAsync(cancellationToken);
            }
            else
            {
                await importer.WriteAsync(column, NpgsqlDbType.Text, cancellationToken);
            }

            await importer.WriteAsync(reason, NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(raw, NpgsqlDbType.Bytea, cancellationToken);
        }

        return (long)await importer.CompleteAsync(cancellationToken);
    }

    internal static async Task<long> ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Runs one of the target's statements that turn staged rows into rejects; returns how many.</summary>
    internal static async Task<long> RejectAsync(NpgsqlConnection connection, CopyTarget target, string sql, Guid jobId,
        CancellationToken cancellationToken, int? chunk = null)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("job", jobId);
        command.Parameters.AddWithValue("key_columns", target.KeyColumns);
        if (chunk is { } number)
        {
            command.Parameters.AddWithValue("chunk", number);
        }
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
