using CsvHelper;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Storage;
using Npgsql;

namespace Ingestion.Workers.Copy;

/// <summary>
/// Writes a job's rejected rows to S3 as a CSV: <c>line,column,reason,record</c>, in file
/// order, each record exactly as it was in the upload up to <c>Processing:RejectedRecordBytes</c>
/// (a longer one is cut and marked, <see cref="RejectedRecord"/>). Streamed from PostgreSQL into
/// a multipart upload, so its size does not matter.
/// </summary>
internal static class RejectsFile
{
    private const string SelectSql =
        "select line, column_name, reason, raw from ingestion.upload_rejects where job_id = @job order by line";

    public static string KeyFor(string tenantId, Guid jobId) => UploadJob.RejectsKeyFor(tenantId, jobId);

    public static Task<string> WriteAsync(NpgsqlConnection connection, ObjectStore store, string tenantId, Guid jobId,
        CancellationToken cancellationToken) =>
        WriteAsync(connection, store, jobId, KeyFor(tenantId, jobId), cancellationToken);

    /// <summary>The job's rejects at <paramref name="key"/>: another kind that loads records into a dataset keeps its own key.</summary>
    public static async Task<string> WriteAsync(NpgsqlConnection connection, ObjectStore store, Guid jobId, string key,
        CancellationToken cancellationToken)
    {
        await using var target = store.OpenWrite(key, "text/csv; charset=utf-8");
        await using (var csv = CsvWriter.Create(target, CsvWriterOptions.Default, leaveOpen: true))
        {
            csv.WriteHeader(["line", "column", "reason", "record"]);
            await using var command = new NpgsqlCommand(SelectSql, connection);
            command.Parameters.AddWithValue("job", jobId);
            await using var reader = await command.ExecuteReaderAsync(System.Data.CommandBehavior.SequentialAccess, cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                csv.WriteField(reader.GetInt64(0), default);
                csv.WriteField(reader.IsDBNull(1) ? "" : reader.GetString(1));
                csv.WriteField(reader.GetString(2));
                csv.WriteField(reader.GetFieldValue<byte[]>(3).AsSpan());
                await csv.EndRecordAsync(cancellationToken);
            }

            await csv.FlushAsync(cancellationToken);
        }

        await target.CompleteAsync(cancellationToken);
        return key;
    }
}
