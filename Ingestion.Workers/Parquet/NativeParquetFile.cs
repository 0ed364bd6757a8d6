using System.Runtime.ExceptionServices;
using ParquetSharp;
using ParquetSharp.IO;

namespace Ingestion.Workers.Parquet;

/// <summary>
/// A Parquet file opened by Apache Arrow's reader (ParquetSharp) over the job's seekable stream, so that its column chunks
/// are read page by page through the same ranged GETs as the footer. Each column reader reads its chunk through a buffer
/// of its own of <c>readBytes</c> (Arrow's buffered stream), rather than the whole chunk at once, which is Arrow's default
/// and would hold a row group's columns in memory.
/// <para>
/// Arrow reports a failed read of the stream as its own <see cref="ParquetException"/> with the message only, which would
/// blame the file for what the network did: the stream's failures are recorded here, and <see cref="RethrowReadFailure"/>
/// throws the original one (which fails the attempt, to be retried) wherever a native call fails.
/// </para>
/// </summary>
internal sealed class NativeParquetFile : IDisposable
{
    private readonly FailureRecordingStream _input;
    private readonly ManagedRandomAccessFile _file;
    private readonly ReaderProperties _properties;

    private NativeParquetFile(FailureRecordingStream input, ManagedRandomAccessFile file, ReaderProperties properties, ParquetFileReader reader)
    {
        _input = input;
        _file = file;
        _properties = properties;
        Reader = reader;
    }

    public ParquetFileReader Reader { get; }

    /// <summary>Opens the file (Arrow reads its footer), or throws what the stream or Arrow threw.</summary>
    public static NativeParquetFile Open(Stream stream, int readBytes)
    {
        var input = new FailureRecordingStream(stream);
        var file = new ManagedRandomAccessFile(input, leaveOpen: true);
        var properties = ReaderProperties.GetDefaultReaderProperties();
        try
        {
            properties.EnableBufferedStream();
            properties.BufferSize = readBytes;
            return new NativeParquetFile(input, file, properties, new ParquetFileReader(file, properties));
        }
        catch
        {
            properties.Dispose();
            file.Dispose();
            if (input.Failure is { } failure)
            {
                ExceptionDispatchInfo.Throw(failure);
            }

            throw;
        }
    }

    /// <summary>Throws the stream's failure when a native call failed because of it (the object could not be read).</summary>
    public void RethrowReadFailure()
    {
        if (_input.Failure is { } failure)
        {
            ExceptionDispatchInfo.Throw(failure);
        }
    }

    public void Dispose()
    {
        Reader.Dispose();
        _properties.Dispose();
        _file.Dispose();
    }

    /// <summary>The job's stream, remembering the first exception a read or seek of it threw (and throwing it on).</summary>
    private sealed class FailureRecordingStream(Stream inner) : Stream
    {
        public Exception? Failure { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => true;

        public override bool CanWrite => false;

        public override long Length => inner.Length;

        public override long Position
        {
            get => inner.Position;
            set => Recorded(() => inner.Position = value);
        }

        public override int Read(byte[] buffer, int offset, int count) => Recorded(() => inner.Read(buffer, offset, count));

        public override int Read(Span<byte> buffer)
        {
            try
            {
                return inner.Read(buffer);
            }
            catch (Exception e)
            {
                Failure ??= e;
                throw;
            }
        }

        public override long Seek(long offset, SeekOrigin origin) => Recorded(() => inner.Seek(offset, origin));

        public override void Flush()
        {
        }

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private T Recorded<T>(Func<T> read)
        {
            try
            {
                return read();
            }
            catch (Exception e)
            {
                Failure ??= e;
                throw;
            }
        }
    }
}
