using Ingestion.Platform.Datasets;
using Ingestion.Platform.Tenancy;
using Ingestion.Workers.Copy;
using Ingestion.Workers.Csv;
using Ingestion.Contracts.Uploads;
using Ingestion.Platform.Storage;
using Ingestion.Workers.Uploads;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Ingestion.Tests.EndToEnd.Chunks;

/// <summary>
/// A chunk loaded in parallel decides its staged rows in several statements, each seeing its own moment:
/// a later chunk can commit one of the stage's keys after the eviction looked for later chunks and before
/// the reject step. That row must not turn the earlier line into a reject (a sequential load keeps the
/// earlier line): the insert meets it instead, and the batch is redone, whose eviction finds the chunk.
/// Driven statement by statement on the shared database, so that the later commit falls exactly between.
/// </summary>
public sealed class When_a_later_chunk_commits_a_key_after_the_eviction_looked
{
    [Test]
    public async Task Should_leave_the_key_to_the_insert_instead_of_rejecting_the_earlier_line()
    {
        var db = TestRun.Shared.Sandbox.Db;
        var (tenant, dataset, map, table, jobId) = NewScenario();
        await using var earlier = await db.OpenConnectionAsync();
        await using var later = await db.OpenConnectionAsync();
        await CreateTableAsync(earlier, tenant, table);
        try
        {
            // A row from before the job.
            await ExecuteAsync(later, $"insert into {table} values ('OLD')");

            // Chunk 1 stages lines 2 to 4 and looks for later chunks holding their keys: none yet.
            var target = new CopyTarget(tenant, dataset, map);
            await using var transaction = await earlier.BeginTransactionAsync();
            await ExecuteAsync(earlier, target.CreateStageSql);
            await ExecuteAsync(earlier, $"insert into {target.StageName} (sku, __line, __raw) values ('K', 2, ''), ('OLD', 3, ''), ('NEW', 4, '')");
            var evicted = await new ChunkEviction(jobId, 1, NoRead, NullLogger.Instance).EvictLaterChunksAsync(earlier, target, CancellationToken.None);
            Assert.That(evicted.Chunks, Is.Empty);

            // Now chunk 3 commits a batch holding K (its xmin recorded, as a batch of a chunk loaded in parallel is).
            await using (var chunk3 = await later.BeginTransactionAsync())
            {
                await ExecuteAsync(later, $"insert into {table} values ('K')");
                await ExecuteAsync(later, """
                    insert into ingestion.upload_chunk_batches (job_id, chunk, xid, from_line, to_line)
                    values (@job, 3, pg_current_xact_id(), 200, 201)
                    """, jobId);
                await chunk3.CommitAsync();
            }

            // Only the row from before the job rejects its line; K is left to the insert, which meets chunk 3's row.
            var rejected = await BatchCopier.RejectAsync(earlier, target, target.RejectKeysBeforeLaterChunksSql, jobId,
                CancellationToken.None, 1);
            Assert.That(rejected, Is.EqualTo(1));
            await using (var lines = new NpgsqlCommand("select array_agg(line order by line) from ingestion.upload_rejects where job_id = @job", earlier))
            {
                lines.Parameters.AddWithValue("job", jobId);
                Assert.That(await lines.ExecuteScalarAsync(), Is.EqualTo(new long[] { 3 }), "line 2 keeps K, as a sequential load does");
            }

            var clash = Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(earlier, target.InsertFromStageSql));
            Assert.That(clash!.SqlState, Is.EqualTo(PostgresErrorCodes.UniqueViolation), "the batch is redone, and its eviction finds chunk 3");
            await transaction.RollbackAsync();
        }
        finally
        {
            await CleanUpAsync(later, tenant, jobId);
        }
    }

    /// <summary>
    /// Two earlier chunks clash with the same later one: the second lists it, then waits for its lock while the
    /// first evicts it. Once it has the lock, the second finds nothing of the chunk left and must not reset it
    /// again (it may be reloading into its stage by then: its rows would be staged twice, or its rejects lost).
    /// </summary>
    [Test]
    public async Task Should_not_evict_again_a_chunk_another_eviction_undid_while_it_waited()
    {
        var db = TestRun.Shared.Sandbox.Db;
        var (tenant, dataset, map, table, jobId) = NewScenario();
        await using var first = await db.OpenConnectionAsync();
        await using var second = await db.OpenConnectionAsync();
        await using var other = await db.OpenConnectionAsync();
        await CreateTableAsync(other, tenant, table);
        try
        {
            // Chunk 2 (lines 101 to 200) is done and holds K.
            await ExecuteAsync(other, """
                insert into ingestion.upload_chunks (job_id, chunk, start_offset, end_offset, start_line, byte_offset, line, rows_loaded, state)
                values (@job, 2, 1000, 2000, 100, 2000, 200, 1, 'done')
                """, jobId);
            await using (var chunk2 = await other.BeginTransactionAsync())
            {
                await ExecuteAsync(other, $"insert into {table} values ('K')");
                await ExecuteAsync(other, """
                    insert into ingestion.upload_chunk_batches (job_id, chunk, xid, from_line, to_line)
                    values (@job, 2, pg_current_xact_id(), 100, 200)
                    """, jobId);
                await chunk2.CommitAsync();
            }

            // Chunk 0 evicts it, not committed yet; chunk 1 lists it and waits for its lock.
            var target = new CopyTarget(tenant, dataset, map);
            await using var evicting = await first.BeginTransactionAsync();
            await ExecuteAsync(first, target.CreateStageSql);
            await ExecuteAsync(first, $"insert into {target.StageName} (sku, __line, __raw) values ('K', 5, '')");
            Assert.That((await Eviction(jobId, 0, "K").EvictLaterChunksAsync(first, target, CancellationToken.None)).Chunks,
                Is.EqualTo(new[] { 2 }));

            await using var waiting = await second.BeginTransactionAsync();
            await ExecuteAsync(second, target.CreateStageSql);
            await ExecuteAsync(second, $"insert into {target.StageName} (sku, __line, __raw) values ('K', 50, '')");
            var late = Eviction(jobId, 1, "K").EvictLaterChunksAsync(second, target, CancellationToken.None);
            await using (var blocked = new NpgsqlCommand("select exists (select from pg_locks where pid = @pid and not granted)", other))
            {
                blocked.Parameters.AddWithValue("pid", second.ProcessID);
                var deadline = DateTime.UtcNow.AddSeconds(10);
                while (await blocked.ExecuteScalarAsync() is not true && !late.IsCompleted)
                {
                    Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "chunk 1's eviction waits for chunk 2's lock");
                    await Task.Delay(20);
                }
            }

            await evicting.CommitAsync();
            Assert.That((await late).Chunks, Is.Empty, "chunk 2 was undone meanwhile: nothing of it holds K");
            await using (var evictions = new NpgsqlCommand("select evictions from ingestion.upload_chunks where job_id = @job and chunk = 2", other))
            {
                evictions.Parameters.AddWithValue("job", jobId);
                Assert.That(await evictions.ExecuteScalarAsync(), Is.EqualTo(1), "reset once, by chunk 0");
            }

            await waiting.RollbackAsync();
        }
        finally
        {
            await CleanUpAsync(other, tenant, jobId);
        }
    }

    /// <summary>
    /// A row's <c>xmin</c> is 32 bits and a frozen row keeps its raw one: after 2^32 transactions a row from long before
    /// the job can share a batch's <c>xmin</c>. Recorded here as that wrap would look (a batch id 2^32 after the old row's),
    /// the eviction must still delete only rows with a key of the evicted chunk's loaded lines, read again from the file: not
    /// the old row's, even where a line of the chunk holds it and was rejected against it as already in the table.
    /// </summary>
    [Test]
    public async Task Should_delete_only_the_evicted_chunks_keys_when_an_old_row_shares_a_batch_xmin()
    {
        var db = TestRun.Shared.Sandbox.Db;
        var (tenant, dataset, map, table, jobId) = NewScenario();
        await using var connection = await db.OpenConnectionAsync();
        await using var other = await db.OpenConnectionAsync();
        await CreateTableAsync(other, tenant, table);
        try
        {
            // A row from long before the job, and its transaction's id.
            long old;
            await using (var before = await other.BeginTransactionAsync())
            {
                await ExecuteAsync(other, $"insert into {table} values ('OLD')");
                await using var id = new NpgsqlCommand("select pg_current_xact_id()::text::bigint", other);
                old = (long)(await id.ExecuteScalarAsync())!;
                await before.CommitAsync();
            }

            // Chunk 2 is the file's lines 2 to 4 (bytes 3 to 11: "sku\nK\nX\nOLD\n"), done: K and X loaded, line 4 rejected
            // as already in the table (the old row's key); one of its batch ids wrapped onto the old row's xmin.
            var (bucket, key) = (TestRun.Shared.Sandbox.Bucket, $"evict/{jobId}.csv");
            await TestRun.Shared.Sandbox.S3.PutObjectAsync(new Amazon.S3.Model.PutObjectRequest
                { BucketName = bucket, Key = key, ContentBody = "sku\nK\nX\nOLD\n", UseChunkEncoding = false });
            await ExecuteAsync(other, """
                insert into ingestion.upload_chunks (job_id, chunk, start_offset, end_offset, start_line, byte_offset, line, rows_loaded, state)
                values (@job, 2, 3, 12, 1, 11, 4, 2, 'done')
                """, jobId);
            await ExecuteAsync(other, """
                insert into ingestion.upload_rejects (job_id, line, column_name, reason, raw)
                values (@job, 4, 'sku', 'has the key (sku)=(OLD), which is already in the table', 'OLD')
                """, jobId);
            await using (var chunk2 = await other.BeginTransactionAsync())
            {
                await ExecuteAsync(other, $"insert into {table} values ('K'), ('X')");
                await ExecuteAsync(other, """
                    insert into ingestion.upload_chunk_batches (job_id, chunk, xid, from_line, to_line)
                    values (@job, 2, pg_current_xact_id(), 1, 4)
                    """, jobId);
                await chunk2.CommitAsync();
            }

            await using (var wrapped = new NpgsqlCommand("""
                insert into ingestion.upload_chunk_batches (job_id, chunk, xid, from_line, to_line)
                values (@job, 2, (@old + 4294967296)::text::xid8, 1, 4)
                """, other))
            {
                wrapped.Parameters.AddWithValue("job", jobId);
                wrapped.Parameters.AddWithValue("old", old);
                await wrapped.ExecuteNonQueryAsync();
            }

            // Chunk 0 stages K: chunk 2 is evicted, its two rows deleted, and the old row stays.
            var store = new ObjectStore(TestRun.Shared.Sandbox.S3, Options.Create(new S3Options { Bucket = bucket }));
            var file = new CsvRecordSource(store, new ProcessUpload(jobId, tenant, dataset.Name, bucket, key), null, dataset,
                CsvDialect.Default, new SourceText(SourceEncoding.Utf8, SourceCompression.None), new UploadProcessingOptions());
            var target = new CopyTarget(tenant, dataset, map);
            await using var transaction = await connection.BeginTransactionAsync();
            await ExecuteAsync(connection, target.CreateStageSql);
            await ExecuteAsync(connection, $"insert into {target.StageName} (sku, __line, __raw) values ('K', 1, '')");
            var evicted = await new ChunkEviction(jobId, 0, (from, end, cancel) => file.OpenAsync(map, from, end, cancel),
                NullLogger.Instance).EvictLaterChunksAsync(connection, target, CancellationToken.None);
            await using (var read = new NpgsqlCommand($"select array_agg(sku order by sku) from {CopyTarget.EvictedTable}", connection))
            {
                Assert.That(await read.ExecuteScalarAsync(), Is.EqualTo(new[] { "K", "X" }), "chunk 2's loaded lines, read again from the file: not its rejected one");
            }

            await transaction.CommitAsync();

            Assert.That((evicted.Chunks, evicted.Rows), Is.EqualTo((new[] { 2 }, 2L)));
            await using var left = new NpgsqlCommand($"select array_agg(sku order by sku) from {table}", other);
            Assert.That(await left.ExecuteScalarAsync(), Is.EqualTo(new[] { "OLD" }), "the old row shares a batch's xmin and a rejected line's key, not a loaded line's");
        }
        finally
        {
            await CleanUpAsync(other, tenant, jobId);
        }
    }

    /// <summary>For an eviction that must find nothing to evict: it never reads the file.</summary>
    private static Task<IUploadRecords> NoRead(RecordPosition from, long endOffset, CancellationToken cancellationToken) =>
        throw new InvalidOperationException("Nothing is evicted, so no chunk's range is read.");

    /// <summary>An eviction by <paramref name="chunk"/> where every later chunk's range holds the one key given (no file).</summary>
    private static ChunkEviction Eviction(Guid jobId, int chunk, string key) =>
        new(jobId, chunk, (_, _, _) => Task.FromResult<IUploadRecords>(new OneKey(key)), NullLogger.Instance);

    /// <summary>A range of one record, a single text key column.</summary>
    private sealed class OneKey(string key) : IUploadRecords
    {
        private bool _read;

        public long Line => 1;

        public RecordPosition End => new(0, 1);

        public ReadOnlySpan<byte> Raw => System.Text.Encoding.UTF8.GetBytes(key);

        public long? ObjectBytesRead => null;

        public bool Read() => !_read && (_read = true);

        public RowProblem? Check() => null;

        public void Write(BinaryCopyRows rows) => rows.WriteBytes(System.Text.Encoding.UTF8.GetBytes(key));

        public long IntegerAt(int slot) => throw new NotSupportedException();

        public void Dispose()
        {
        }
    }

    /// <summary>A tenant of its own with a one-column keyed dataset, and a job id: each test's rows stay apart.</summary>
    private static (string Tenant, DatasetDefinition Dataset, HeaderMap Map, string Table, Guid JobId) NewScenario()
    {
        var tenant = "evict" + Guid.NewGuid().ToString("N")[..8];
        var dataset = new DatasetDefinition("prices", [new DatasetColumn("sku", ColumnType.Text, true)], ["sku"]);
        return (tenant, dataset, HeaderMap.Build(dataset, ["sku"]).Map!, TenantSchema.QualifiedTable(tenant, dataset.Name), Guid.NewGuid());
    }

    private static Task CreateTableAsync(NpgsqlConnection connection, string tenant, string table) =>
        ExecuteAsync(connection, $"create schema {Identifier.Quote(TenantSchema.NameOf(tenant))}; create table {table} (sku text primary key)");

    /// <summary>The tenant's schema and whatever the job left in the shared tables.</summary>
    private static async Task CleanUpAsync(NpgsqlConnection connection, string tenant, Guid jobId)
    {
        await ExecuteAsync(connection, $"drop schema {Identifier.Quote(TenantSchema.NameOf(tenant))} cascade");
        foreach (var shared in new[] { "upload_chunks", "upload_chunk_batches", "upload_rejects" })
        {
            await ExecuteAsync(connection, $"delete from ingestion.{shared} where job_id = @job", jobId);
        }
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, Guid? job = null)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        if (job is { } id)
        {
            command.Parameters.AddWithValue("job", id);
        }

        await command.ExecuteNonQueryAsync();
    }
}
