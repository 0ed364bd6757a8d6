using System.Text.Json;
using Ingestion.Platform.Datasets;
using Npgsql;

namespace Ingestion.Platform.Jobs;

/// <summary>The dialect an upload job's file is read with: the one its upload declared, else its dataset's.</summary>
public static class UploadDialect
{
    private const string ReadSql = "select data->'dialect' from ingestion.jobs where job_id = @job";
    private const string ReadFormatSql = "select data->>'format' from ingestion.jobs where job_id = @job";

    public static async Task<CsvDialect> ReadAsync(NpgsqlConnection connection, Guid jobId, DatasetDefinition dataset,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(ReadSql, connection);
        command.Parameters.AddWithValue("job", jobId);
        var json = await command.ExecuteScalarAsync(cancellationToken) as string;
        return json is null or "null"
            ? dataset.CsvDialect
            : JsonSerializer.Deserialize<CsvDialect>(json, DatasetCatalog.Json) ?? dataset.CsvDialect;
    }

    /// <summary>The format the job's file is read in: the one its upload declared, else its dataset's.</summary>
    public static async Task<string> ReadFormatAsync(NpgsqlConnection connection, Guid jobId, DatasetDefinition dataset,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(ReadFormatSql, connection);
        command.Parameters.AddWithValue("job", jobId);
        return await command.ExecuteScalarAsync(cancellationToken) as string ?? dataset.FileFormat;
    }
}
