impl :: bincode :: Encode for Blob
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.magic, encoder) ?; :: bincode ::
        Encode :: encode(&self.version, encoder) ?; :: bincode :: Encode ::
        encode(&self.kdf, encoder) ?; :: bincode :: Encode ::
        encode(&self.iterations, encoder) ?; :: bincode :: Encode ::
        encode(&self.salt, encoder) ?; :: bincode :: Encode ::
        encode(&self.check, encoder) ?; :: bincode :: Encode ::
        encode(&self.nonce, encoder) ?; :: bincode :: Encode ::
        encode(&self.ciphertext, encoder) ?; core :: result :: Result ::
        Ok(())
    }
}