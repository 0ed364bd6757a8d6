namespace Ingestion.Workers.Copy;

/// <summary>
/// What this worker reads, said to PostgreSQL for a statement's transaction: the triggers that fence older workers out of
/// work they would misread refuse a statement that does not say it. Every statement that moves a checkpoint's or a chunk's
/// offset forward, evicts a chunk or records one selects <see cref="Settings"/> (as a CTE it joins, or as a statement of
/// its batch), so a new fence adds its setting here rather than to each statement.
/// <list type="bullet">
/// <item><c>ingestion.chunk_reader = decompresses</c>: a compressed file's chunks are read in their decompressed text
/// (trigger <c>upload_chunks_compressed_reader</c>, migration 0037).</item>
/// <item><c>ingestion.text_reader = utf16</c>: JSON Lines in UTF-16 is read as such (trigger
/// <c>upload_utf16_json_reader</c>, migration 0038).</item>
/// </list>
/// </summary>
internal static class ReaderFence
{
    public const string Settings =
        "select set_config('ingestion.chunk_reader', 'decompresses', true) as chunk_reader, " +
        "set_config('ingestion.text_reader', 'utf16', true) as text_reader";
}
