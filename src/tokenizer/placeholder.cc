namespace tg::tokenizer {}
